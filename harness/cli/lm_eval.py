"""`harness lm-eval ARGS...`: lm-evaluation-harness's own command line with our models registered
(`--model harness-defended` / `harness-defended-multimodal`); every argument goes to lm-eval unchanged."""

from __future__ import annotations

import argparse

from harness.cli.common import CLIError


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lm-eval", add_help=False, prefix_chars="\0",
                       help="lm-evaluation-harness with --model harness-defended / harness-defended-multimodal")
    p.add_argument("args", nargs=argparse.REMAINDER, help="lm-eval's own arguments")
    p.set_defaults(func=cmd_lm_eval)


def cmd_lm_eval(args: argparse.Namespace) -> int:
    try:
        from harness.run.lm_eval import main as lm_eval_main
    except ModuleNotFoundError as exc:
        if exc.name != "lm_eval":
            raise
        raise CLIError("lm-eval is not installed: pip install 'omni-safety-harness[lm-eval]'") from None
    return lm_eval_main(args.args)
