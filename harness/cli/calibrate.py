"""`harness calibrate`: run a defense's setup on a model once and print where its artifacts are.

`harness calibrate --model M --defense D [--data SEL] [--defense-param k=v ...]` loads the model through the
normal zoo and backends, builds any registered defense with the given parameters (`--data` sets the parameter
the defense names in `calibration_param`), runs its `setup` exactly as `harness run` would (same cache
directory, same model name in the artifact manifest) and prints where the artifacts are. A later
`harness run` with the same model and parameters reuses them.
"""

from __future__ import annotations

import argparse
import json
import shlex
from typing import Any

from harness.cli.common import (CLIError, add_defense_param_options, add_include_path_option, add_model_options,
                                add_storage_options, defense_params, task_context)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calibrate", help="calibrate a defense on a model and write its artifacts (cached)",
                       allow_abbrev=False, description=__doc__.split("\n\n")[1])
    add_model_options(p)
    p.add_argument("--defense", required=True, help="registered defense name or module:Class")
    p.add_argument("--data", default=None, metavar="SELECTOR",
                   help="calibration data as a task selector (sets the defense's calibration parameter)")
    add_defense_param_options(p)
    p.add_argument("--against", default=None, metavar="TASKS",
                   help="tasks the artifacts will be evaluated on: the calibration data are checked to be disjoint "
                        "from them (by source id, sample id and content)")
    p.add_argument("--seed", type=int, default=0)
    add_storage_options(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_include_path_option(p)
    p.set_defaults(func=cmd_calibrate)


def calibration_params(args: argparse.Namespace, defense_cls: type) -> dict[str, Any]:
    """`--defense-config`, then `--defense-param`, then `--data` mapped onto the defense's calibration parameter."""
    params = defense_params(args)
    if args.data is not None:
        name = getattr(defense_cls, "calibration_param", None)
        if not name:
            raise CLIError(f"defense {args.defense!r} takes no calibration data (it names no calibration parameter); "
                           "drop --data")
        if name in params and params[name] != args.data:
            raise CLIError(f"--data {args.data!r} and --defense-param {name}={params[name]!r} disagree")
        params[name] = args.data
    return params


def cmd_calibrate(args: argparse.Namespace) -> int:
    from harness.run import (check_task_names, default_registries, defense_class, defense_context, make_backend,
                             samples_loader)
    from tasks.base import parse_task_list

    registries = default_registries(args.include_path)
    context = task_context(args)
    dcls = defense_class(registries, args.defense)
    params = calibration_params(args, dcls)
    defense = dcls(**params)  # parameters are validated before anything is loaded
    check_task_names(registries, args.data)  # so are the data's task names
    loader = samples_loader(registries, context)
    against = [s for sel in parse_task_list(args.against or "") for s in loader(str(sel))]

    backend = make_backend(registries, args.model, context.cache_dir, backend=args.backend, revision=args.revision,
                           dtype=args.dtype, device=args.device, system_prompt=args.system_prompt)
    # The same context `harness run` gives, so the run finds these artifacts in its cache.
    defense.setup(backend, defense_context(registries, args.model, context, seed=args.seed,
                                           show_progress=not args.no_progress, evaluation_samples=against))
    status = f" [{dcls.status}]" if getattr(dcls, "status", "") else ""
    print(f"calibrated {args.defense}{status} on {args.model}")
    if not against:
        print("note: no --against tasks given, so disjointness from the test data was not checked here "
              "(harness run checks it against the samples it evaluates)")
    artifacts = defense.artifacts()
    for name, path in artifacts.items():
        print(f"  {name}: {path}")
    if not artifacts:
        print("  (this defense wrote no artifacts)")
    shown = " ".join(shlex.quote(f"--defense-param={k}={v if isinstance(v, str) else json.dumps(v)}")
                     for k, v in params.items())
    print(f"reuse: harness run --model {shlex.quote(args.model)} --defense {args.defense} {shown}".rstrip())
    return 0
