"""`harness check-defense NAME_OR_MODULE:CLASS`: run the defense contract suite (`defenses.contract`) against a
registered or third-party defense on the tiny models (or any model), printing pass / fail per check.
Exit status 0 when every check passed or was skipped, 1 when one failed."""

from __future__ import annotations

import argparse

from harness.cli.common import (add_defense_param_options, add_include_path_option, add_model_options,
                                add_storage_options, defense_params, task_context)


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
    p.add_argument("--max-new-tokens", type=int, default=6)
    add_include_path_option(p)
    p.set_defaults(func=cmd_check_defense)


def cmd_check_defense(args: argparse.Namespace) -> int:
    from defenses.contract import run_contract
    from defenses.steering import contract_config
    from harness.records import GenerationConfig
    from harness.run import default_registries, defense_class, defense_context, load_backend

    registries = default_registries(args.include_path)
    cls = defense_class(registries, args.defense)
    params = None
    if args.defense_param or args.defense_config:
        params = {**contract_config(cls).params, **defense_params(args)}
    models = args.model or list(contract_config(cls).models)
    context = task_context(args)
    ok = True
    for model in models:
        backend = load_backend(registries, model, context.cache_dir, backend=args.backend, revision=args.revision,
                               dtype=args.dtype, device=args.device, system_prompt=args.system_prompt)
        report = run_contract(cls, backend, defense_context(registries, model, context, show_progress=False),
                              params=params, name=args.defense,
                              config=GenerationConfig(max_new_tokens=args.max_new_tokens))
        print(report.format(), flush=True)
        ok = ok and report.ok
    return 0 if ok else 1
