"""Defense subcommands of the `harness` CLI: `harness calibrate`. `harness/cli.py` calls `add_parsers(sub)`.

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

from harness import config


def add_parsers(sub: argparse._SubParsersAction) -> None:
    from tasks.cli import add_include_path_option

    p = sub.add_parser("calibrate", help="calibrate a defense on a model and write its artifacts (cached)",
                       allow_abbrev=False, description=__doc__.split("\n\n")[1])
    p.add_argument("--model", default=config.DEFAULT_MODEL,
                   help=f"built-in alias, hub id or local directory (default: {config.DEFAULT_MODEL})")
    p.add_argument("--revision", default=None, help="hub revision of the model")
    p.add_argument("--backend", default=None, help="model backend (default: detected from the model config)")
    p.add_argument("--defense", required=True, help="registered defense name or module:Class")
    p.add_argument("--data", default=None, metavar="SELECTOR",
                   help="calibration data as a task selector (sets the defense's calibration parameter)")
    p.add_argument("--defense-param", action="append", metavar="KEY=VALUE", help="defense parameter (repeatable)")
    p.add_argument("--defense-config", metavar="YAML", help="defense parameters from a YAML mapping")
    p.add_argument("--against", default=None, metavar="TASKS",
                   help="tasks the artifacts will be evaluated on: the calibration data are checked to be disjoint "
                        "from them (by source id, sample id and content)")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16", "auto"])
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, auto")
    p.add_argument("--system-prompt", default=None, help="override the model's official system prompt")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache-dir", default=None, help=f"cache directory (default: ${config.CACHE_ENV} or ~/.cache)")
    p.add_argument("--data-root", default=None, help=f"root for benchmark data (default: ${config.DATA_ENV})")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_include_path_option(p)
    p.set_defaults(func=cmd_calibrate)


def defense_params(args: argparse.Namespace, defense_cls: type) -> dict[str, Any]:
    """`--defense-config`, then `--defense-param`, then `--data` mapped onto the defense's calibration parameter."""
    from harness.cli import CLIError, _params

    params = _params(args.defense_param, args.defense_config, "defense")
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
    from defenses.base import DefenseContext
    from harness.cli import CLIError
    from harness.registries import default_registries
    from harness.runner import defense_class, resolve_samples_loader
    from harness.zoo import resolve_model
    from tasks.base import TaskContext, parse_task_list

    registries = default_registries(args.include_path)
    cache = config.cache_dir(args.cache_dir)
    context = TaskContext(cache_dir=cache, data_root=config.data_root(args.data_root))
    dcls = defense_class(registries, args.defense)
    params = defense_params(args, dcls)
    defense = dcls(**params)  # parameters are validated before anything is loaded
    loader = resolve_samples_loader(registries, context)
    against = [s for sel in parse_task_list(args.against or "") for s in loader(str(sel))]

    resolved = resolve_model(args.model, cache)
    backend_name = args.backend or resolved.backend
    if backend_name is None:
        raise CLIError(f"cannot tell which backend serves {args.model!r}; pass --backend "
                       f"({', '.join(registries.backends.names())})")
    backend = registries.backends.get(backend_name)(resolved.path, revision=args.revision, dtype=args.dtype,
                                                     device=args.device, system_prompt=args.system_prompt)
    # The same context `harness run` gives, so the run finds these artifacts in its cache.
    defense.setup(backend, DefenseContext(
        cache_dir=cache / "defenses", model_name=args.model, seed=args.seed,
        load_samples=loader, evaluation_samples=against,
        show_progress=not args.no_progress,
    ))
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
