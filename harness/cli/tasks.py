"""`harness build advbench-omni`, `harness tasks check`, `harness tasks download`, and the task part of
`harness list tasks`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from harness.cli.common import CLIError, add_include_path_option, add_storage_options, positive_int, task_context


def add_parsers(sub: argparse._SubParsersAction) -> None:
    _add_build_parser(sub)
    _add_tasks_parser(sub)


# -- build advbench-omni -----------------------------------------------------------------------------------
def _add_build_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("build", help="build a dataset offline", allow_abbrev=False)
    bsub = p.add_subparsers(dest="dataset", required=True)
    b = bsub.add_parser("advbench-omni", allow_abbrev=False,
                        help="rebuild AdvBench-Omni (11 configurations + benign) from text behaviours, offline",
                        description="Rebuild AdvBench-Omni from any list of text behaviours. The default rewriter "
                                    "is a deterministic rule-based splitter (NOT the paper's LLM rewriter); speech "
                                    "is espeak-ng unless --tts names another engine. Resumable: rerun the same "
                                    "command after an interruption.")
    b.add_argument("--source", required=True, help="CSV / JSON / JSONL / TXT / parquet file, dataset folder or hub id")
    b.add_argument("--out", required=True, help="output directory (the dataset root the loader reads)")
    b.add_argument("--text-column", default=None, help="column holding the behaviour (default: prompt, goal, ...)")
    b.add_argument("--split", default=None, help="split of a hub / folder source (default: train)")
    b.add_argument("--source-prefix", default="advbench", help="prefix of source ids (default: advbench)")
    b.add_argument("--limit", type=positive_int, default=None, help="use only the first N harmful behaviours")
    b.add_argument("--benign", default=None,
                   help="benign prompts (same formats as --source); default: the project's 600 built-in benign "
                        "prompts, as many as harmful behaviours (see --benign-count)")
    b.add_argument("--benign-count", type=int, default=None, metavar="N",
                   help="use the first N benign prompts (default: as many as harmful behaviours, at most all)")
    b.add_argument("--font", default=None, metavar="FILE",
                   help="typography font file (default: the system's FreeMonoBold.ttf); its sha256 goes into "
                        "the manifest")
    b.add_argument("--no-benign", action="store_true", help="build the harmful configurations only")
    b.add_argument("--configs", default=None, help="comma-separated subset of t,i,a,v,t2i,t2a,t2v,t2ia,t2va,a2i,a2v")
    b.add_argument("--rewriter", choices=["rule", "openai"], default="rule",
                   help="decoupling split: deterministic rules (offline default) or an OpenAI-compatible model")
    b.add_argument("--rewriter-model", default=None, help="model name for --rewriter openai")
    b.add_argument("--rewriter-base-url", default=None, help="base URL of the OpenAI-compatible API (with /v1)")
    b.add_argument("--rewriter-api-key-env", default="OPENAI_API_KEY", help="environment variable with the API key")
    b.add_argument("--tts", default="espeak-ng", help="espeak-ng, or module:Class of a SpeechEngine")
    b.add_argument("--voice", default="en-us", help="espeak-ng voice (default: en-us)")
    b.add_argument("--keep-flagged", action="store_true",
                   help="keep rewrites whose text still contains the payload (reported either way)")
    b.add_argument("--benign-media-instruction", choices=["reference", "none"], default="reference",
                   help="benign i/a/v items carry 'Describe this image/audio/video in detail.' (reference) or no text")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    b.set_defaults(func=cmd_build_advbench_omni)


def _speech_engine(args: argparse.Namespace):
    from tasks.render import EspeakNG

    if args.tts == "espeak-ng":
        return EspeakNG(voice=args.voice)
    if ":" not in args.tts:
        raise CLIError(f"--tts must be espeak-ng or module:Class, got {args.tts!r}")
    from harness.registry import import_object

    return import_object(args.tts)()  # type: ignore[operator]


def cmd_build_advbench_omni(args: argparse.Namespace) -> int:
    from tasks.advbench_omni.behaviours import BehaviourSourceError, builtin_benign, read_behaviours
    from tasks.advbench_omni.build import BuildOptions, build
    from tasks.advbench_omni.layout import HARMFUL_CONFIGS
    from tasks.advbench_omni.rewriter import OpenAIRewriter, RuleBasedSplitter

    out = Path(args.out)
    try:
        hf_cache = out / ".build" / "hf-datasets"
        rows = read_behaviours(args.source, text_column=args.text_column, split=args.split, prefix=args.source_prefix,
                               cache_dir=hf_cache)
        harmful = [b for b in rows if b.label == "harmful"]
        benign = [b for b in rows if b.label == "benign"]
        if args.limit is not None:
            harmful = harmful[:args.limit]
        if args.no_benign:
            benign = []
        elif args.benign:
            benign += read_behaviours(args.benign, default_label="benign", prefix="benign", cache_dir=hf_cache)
        elif not benign:
            benign = builtin_benign()
        if args.benign_count is not None:
            if args.benign_count < 0 or args.benign_count > len(benign):
                raise CLIError(f"--benign-count {args.benign_count}: between 0 and the {len(benign)} benign "
                               "prompts available")
            benign = benign[:args.benign_count]
        elif not args.benign and not any(b.label == "benign" for b in rows):
            benign = benign[:len(harmful)]
    except BehaviourSourceError as exc:
        raise CLIError(str(exc)) from None
    from tasks.render import MissingToolError, TypographyParams

    try:
        typography = TypographyParams.with_font_file(args.font) if args.font else TypographyParams()
    except (MissingToolError, OSError) as exc:
        raise CLIError(str(exc) if str(exc).startswith("--font") else f"--font {args.font}: {exc}") from None
    if args.rewriter == "openai":
        if not args.rewriter_model:
            raise CLIError("--rewriter openai needs --rewriter-model")
        rewriter: Any = OpenAIRewriter(model=args.rewriter_model, base_url=args.rewriter_base_url,
                                       api_key_env=args.rewriter_api_key_env, cache_dir=out / ".build" / "rewrites")
    else:
        rewriter = RuleBasedSplitter()
    configs = tuple(c.strip() for c in args.configs.split(",") if c.strip()) if args.configs else HARMFUL_CONFIGS
    opts = BuildOptions(
        out=out, rewriter=rewriter, speech=_speech_engine(args), configs=configs, typography=typography,
        benign_media_instruction=args.benign_media_instruction == "reference", keep_flagged=args.keep_flagged,
        show_progress=not args.no_progress,
        source={"source": args.source, "text_column": args.text_column, "split": args.split,
                "n_harmful": len(harmful), "benign": args.benign or ("none" if args.no_benign else
                                                                      "built-in project prompts"),
                "n_benign": len(benign), "benign_count": args.benign_count},
    )
    report = build([*harmful, *benign], opts)
    print(report.summary())
    print(f"load it with: harness run --tasks advbench-omni --data-root {out}")
    return 0


# -- tasks check / download --------------------------------------------------------------------------------
def _add_tasks_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tasks", help="check or download task data", allow_abbrev=False)
    tsub = p.add_subparsers(dest="action", required=True)
    c = tsub.add_parser("check", allow_abbrev=False,
                        help="validate cards, data and every media file without loading a model")
    c.add_argument("names", nargs="*", metavar="NAME",
                   help="task selectors, e.g. advbench-omni or vlguard:safe_safe (default: every card; cards whose "
                        "data are not present get the schema check only)")
    c.add_argument("--limit", type=positive_int, default=None, help="check at most N samples per configuration x label")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--show", type=int, default=20, help="problems shown per task (all are counted)")
    c.add_argument("--json", action="store_true", help="machine-readable output")
    add_include_path_option(c)
    add_storage_options(c)
    c.set_defaults(func=cmd_tasks_check)
    d = tsub.add_parser("download", allow_abbrev=False,
                        help="download a card's hub snapshot into <data root>/<local dir> (needs the network)")
    d.add_argument("name", metavar="NAME")
    d.add_argument("--revision", default=None, help="hub revision (default: the card's)")
    d.add_argument("--force", action="store_true", help="download even when the hub id is not confirmed")
    add_include_path_option(d)
    add_storage_options(d)
    d.set_defaults(func=cmd_tasks_download)


def cmd_tasks_check(args: argparse.Namespace) -> int:
    from harness.run import check_task_names, default_registries
    from tasks.check import check_all_cards, check_task

    registries = default_registries(args.include_path)
    context = task_context(args)
    check_task_names(registries, *args.names)  # a misspelt name is a user error, not a failed check
    if args.names:
        results = [check_task(registries, name, context, limit=args.limit, seed=args.seed) for name in args.names]
    else:
        results = check_all_cards(registries, context, limit=args.limit, seed=args.seed)
    if args.json:
        print(json.dumps([{"task": r.selector, "ok": r.ok, "schema_only": r.schema_only, "samples": r.n_samples,
                           "media": r.n_media, "error": r.error, "problems": r.problems, "notes": r.notes}
                          for r in results], indent=2))
    else:
        for r in results:
            print(r.format(args.show))
    return 0 if all(r.ok for r in results) else 2


def cmd_tasks_download(args: argparse.Namespace) -> int:
    from harness.run import default_registries
    from tasks.card_task import CardTask
    from tasks.download import download

    context = task_context(args)
    if context.data_root is None:
        raise CLIError("give --data-root (or set HARNESS_DATA): the snapshot goes to <data root>/<card's local dir>")
    cls = default_registries(args.include_path).tasks.get(args.name)
    if not (isinstance(cls, type) and issubclass(cls, CardTask)):
        raise CLIError(f"task {args.name} has no card; nothing to download")
    path = download(cls.card, context.data_root, revision=args.revision, force=args.force)
    print(f"downloaded {cls.card.source.hub} to {path}")
    return 0


# -- list tasks --------------------------------------------------------------------------------------------
def task_rows(registries, context) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    reg = registries.tasks
    for name in reg.names():
        row: dict[str, Any] = {"name": name, "origin": reg.origin(name)}
        try:
            task = reg.get(name)(context)
            desc = task.describe()
            row.update(version=str(desc.get("version", task.version)), description=desc.get("description", ""),
                       modalities=desc.get("modalities") or [], source=desc.get("source") or "built-in",
                       configurations=desc.get("configurations") or [])
            if callable(getattr(task, "size", None)):
                size = task.size()
                row["size"] = size if size is not None else "not downloaded"
            else:
                row["size"] = desc.get("size", "-")
            if desc.get("published_size"):
                row["published_size"] = desc["published_size"]
        except Exception as exc:  # noqa: BLE001 - a broken card or plugin must not hide the others
            row["error"] = f"{type(exc).__name__}: {exc}"
        rows.append(row)
    return rows


def _modalities_cell(modalities: list[str]) -> str:
    if len(modalities) <= 2:
        return ", ".join(modalities) or "-"
    parts = sorted({p for m in modalities for p in m.split("+")})
    return f"{len(modalities)} combos of {'/'.join(parts)}"


def cmd_list_tasks(args: argparse.Namespace) -> int:
    from harness.run import default_registries

    rows = task_rows(default_registries(getattr(args, "include_path", [])), task_context(args))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = ("name", "version", "size", "modalities", "source")
    table = [header] + [
        (r["name"], r.get("version", "?"), str(r.get("size", "?")), _modalities_cell(r.get("modalities") or []),
         r.get("error") or r.get("source", "")) for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    for row in table:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])) + "  " + row[-1])
    return 0

