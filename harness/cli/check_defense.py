"""`harness check-defense NAME_OR_MODULE:CLASS`: run the defense contract suite (`defenses.contract`) against a
registered or third-party defense on the tiny models (or any model), printing pass / fail per check.
Exit status 0 when every check passed or was skipped, 1 when one failed."""

from __future__ import annotations

import argparse

from harness.cli.common import (add_defense_param_options, add_include_path_option, add_model_options,
                                add_storage_options, defense_params, positive_int, task_context)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check-defense", allow_abbrev=False, help="run the defense contract tests against a defense",
        description="Checks: setup, strength 0 == none (steering defenses), hooks removed (also after an error), "
                    "changed positions == declared positions (steering defenses), batched == one at a time. "
                    "Parameters default to the defense's `contract.params`; models to its `contract.models`.")
    p.add_argument("defense", help="registered defense name or module:Class")
    add_model_options(p, repeat=True)
    add_storage_options(p)
    add_defense_param_options(p, short=True)
    p.add_argument("--max-new-tokens", type=positive_int, default=6)
    add_include_path_option(p)
    p.set_defaults(func=cmd_check_defense)


def cmd_check_defense(args: argparse.Namespace) -> int:
    from defenses.contract import check_defense
    from defenses.steering import contract_config
    from harness.run import contract_loaders, default_registries, defense_class

    registries = default_registries(args.include_path)
    cls = defense_class(registries, args.defense)
    params = defense_params(args) if args.defense_param or args.defense_config else None
    load_backend, make_context = contract_loaders(
        registries, task_context(args), backend=args.backend, revision=args.revision, dtype=args.dtype,
        device=args.device, system_prompt=args.system_prompt)
    ok = True
    for model in args.model or list(contract_config(cls).models):
        report = check_defense(cls, model, load_backend=load_backend, make_context=make_context, params=params,
                               name=args.defense, max_new_tokens=args.max_new_tokens)
        print(report.format(), flush=True)
        ok = ok and report.passed
    return 0 if ok else 1
