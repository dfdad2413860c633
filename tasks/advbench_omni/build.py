"""The offline AdvBench-Omni builder: text behaviours -> the 11 configurations (+ benign) in the loader's layout.

For each prompt: the decoupling split (rewriter: rule-based by default, an OpenAI-compatible model when
configured), typography images and videos with the spec's parameters, speech from a pluggable TTS (espeak-ng by
default), and one record per configuration (tasks/advbench_omni/layout.py), exactly as the loader reads them.
Media files are content-addressed (`data/<kind>/<hash>.<ext>`) and written atomically, rewrites of the LLM
rewriter are cached on disk, and the metadata files are rewritten at the end: a killed build resumes where it
stopped and an unchanged rebuild gives byte-identical PNG / MP4 files.

Configuration contents (OmniSteer §1.5; `vision`, `audio`, `bridge` = the three rewrite kinds):
t text | i image(prompt) | a speech(prompt) | v video(prompt) | t2i text(vision) + image(payload) |
t2v text(vision) + video(payload) | a2i speech(vision text) + image(payload) | a2v speech(vision text) +
video(payload) | t2a text(audio) + speech(payload) | t2ia text(bridge) + image(A) + speech(B) |
t2va text(bridge) + video(A) + speech(B). Benign items follow the same rules; their i / a / v items carry
the reference's "Describe this image/audio/video in detail." unless `benign_media_instruction` is off, and
t2ia / t2va / a2i / a2v are marked as project extensions (no benign counterpart in the reference).
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from harness.balance import balance_warning
from tasks.advbench_omni.behaviours import Behaviour
from tasks.advbench_omni.layout import (
    BENIGN_EXTENSION_CONFIGS,
    BENIGN_MEDIA_INSTRUCTION,
    HARMFUL_CONFIGS,
    MANIFEST,
    METADATA_DIR,
    metadata_name,
)
from tasks.advbench_omni.rewriter import Rewrite, Rewriter
from tasks.media import atomic_write_bytes
from tasks.render import (
    EspeakNG,
    SpeechEngine,
    TypographyParams,
    VideoParams,
    media_library_versions,
    render_speech,
    render_typography,
    render_typography_video,
)

BUILD_SCHEMA = "advbench-omni.build/1"
REWRITE_KIND = MappingProxyType({"t2i": "vision", "t2v": "vision", "a2i": "vision", "a2v": "vision", "t2a": "audio",
                "t2ia": "vision_audio", "t2va": "vision_audio"})


@dataclass
class BuildOptions:
    out: Path
    rewriter: Rewriter
    speech: SpeechEngine = field(default_factory=EspeakNG)
    typography: TypographyParams = field(default_factory=TypographyParams)
    video: VideoParams = field(default_factory=VideoParams)
    configs: tuple[str, ...] = HARMFUL_CONFIGS
    benign_media_instruction: bool = True
    keep_flagged: bool = False
    show_progress: bool = True
    source: dict[str, Any] = field(default_factory=dict)  # recorded in the manifest


@dataclass
class BuildReport:
    out: Path
    counts: dict[str, dict[str, int]]
    problems: list[str]
    warnings: list[str]

    def summary(self) -> str:
        total = sum(n for by_label in self.counts.values() for n in by_label.values())
        lines = [f"wrote {total} items to {self.out}"]
        for cfg, by_label in self.counts.items():
            lines.append(f"  {cfg:5s} " + "  ".join(f"{lab}: {n}" for lab, n in sorted(by_label.items())))
        if self.warnings:
            lines.append(f"{len(self.warnings)} warning(s) (details in {MANIFEST}):")
            lines += [f"  - {w}" for w in self.warnings[:10]]
        if self.problems:
            lines.append(f"{len(self.problems)} item(s) left out (details in {MANIFEST}):")
            lines += [f"  - {p}" for p in self.problems[:10]]
        return "\n".join(lines)


class _Media:
    """Renders media into `out/data/<kind>/` and keeps the render info per file."""

    def __init__(self, opts: BuildOptions) -> None:
        self.opts = opts
        self.data = opts.out / "data"
        self.speech_info = opts.speech.describe()
        self.overflow: list[str] = []

    def rel(self, path: Path) -> str:
        return path.relative_to(self.opts.out).as_posix()

    def image(self, text: str) -> tuple[str, dict[str, Any]]:
        r = render_typography(text, self.data / "image", self.opts.typography)
        if r.overflow:
            self.overflow.append(text)
        return self.rel(r.path), {**self.opts.typography.to_dict(), "overflow": r.overflow, "text": text}

    def video(self, text: str) -> tuple[str, dict[str, Any]]:
        r = render_typography_video(text, self.data / "video", self.opts.video, self.opts.typography)
        if r.overflow:
            self.overflow.append(text)
        return self.rel(r.path), {**self.opts.video.to_dict(), "typography": self.opts.typography.to_dict(),
                                  "overflow": r.overflow, "text": text}

    def audio(self, text: str) -> tuple[str, dict[str, Any]]:
        import soundfile as sf

        path = render_speech(text, self.data / "audio", self.opts.speech)
        info = sf.info(str(path))
        return self.rel(path), {**self.speech_info, "sample_rate": info.samplerate,
                                "seconds": round(info.duration, 3), "text": text}


def _record(b: Behaviour, config: str, text: str | None, media: dict[str, tuple[str, dict[str, Any]]],
            rewrite: Rewrite | None, extension: bool) -> dict[str, Any]:
    prefix = "advbench" if b.label == "harmful" else "benign"
    index = b.source_id.rsplit("/", 1)[-1]
    rec: dict[str, Any] = {
        "id": f"{prefix}_{config}/{index}", "source_id": b.source_id, "config": config, "label": b.label,
        "text": text, "image": None, "audio": None, "video": None,
        "payload": {"image_content": rewrite.image_content if rewrite else None,
                    "audio_content": rewrite.audio_content if rewrite else None},
        "render": {}, "origin": "rebuilt", "source_text": b.text, "category": b.category,
    }
    for kind, (path, info) in media.items():
        rec[kind] = path
        rec["render"][kind] = info
    if rewrite is not None:
        rec["rewrite"] = {"kind": rewrite.kind, "rewriter": rewrite.rewriter, "model": rewrite.model,
                          "status": rewrite.status, "flags": list(rewrite.flags)}
    if extension:
        rec["extension"] = "project: no benign counterpart of this configuration in the reference"
    return rec


def _items_for(b: Behaviour, config: str, rw: Rewrite | None, m: _Media, opts: BuildOptions
               ) -> tuple[str | None, dict[str, tuple[str, dict[str, Any]]]]:
    benign_text = BENIGN_MEDIA_INSTRUCTION.get(config) if b.label == "benign" and opts.benign_media_instruction \
        else None
    if config == "t":
        return b.text, {}
    if config == "i":
        return benign_text, {"image": m.image(b.text)}
    if config == "a":
        return benign_text, {"audio": m.audio(b.text)}
    if config == "v":
        return benign_text, {"video": m.video(b.text)}
    assert rw is not None
    if config == "t2i":
        return rw.text_instruction, {"image": m.image(rw.image_content or "")}
    if config == "t2v":
        return rw.text_instruction, {"video": m.video(rw.image_content or "")}
    if config == "a2i":
        return None, {"image": m.image(rw.image_content or ""), "audio": m.audio(rw.text_instruction)}
    if config == "a2v":
        return None, {"video": m.video(rw.image_content or ""), "audio": m.audio(rw.text_instruction)}
    if config == "t2a":
        return rw.text_instruction, {"audio": m.audio(rw.audio_content or "")}
    if config == "t2ia":
        return rw.text_instruction, {"image": m.image(rw.image_content or ""), "audio": m.audio(rw.audio_content or "")}
    if config == "t2va":
        return rw.text_instruction, {"video": m.video(rw.image_content or ""), "audio": m.audio(rw.audio_content or "")}
    raise ValueError(f"unknown configuration {config!r}")


def build(behaviours: Sequence[Behaviour], opts: BuildOptions,
          progress: Callable[[int], Any] | None = None) -> BuildReport:
    unknown = [c for c in opts.configs if c not in HARMFUL_CONFIGS]
    if unknown:
        raise ValueError(f"unknown configuration(s) {unknown}; known: {', '.join(HARMFUL_CONFIGS)}")
    if not behaviours:
        raise ValueError("no behaviours to build from")
    opts.out.mkdir(parents=True, exist_ok=True)
    media = _Media(opts)
    records: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    problems: list[str] = []
    flagged: list[dict[str, Any]] = []
    from tqdm import tqdm

    with tqdm(total=len(behaviours), unit="prompt", desc="building advbench-omni", file=sys.stderr,
              disable=not opts.show_progress, dynamic_ncols=True) as bar:
        for b in behaviours:
            rewrites: dict[str, Rewrite] = {}
            for config in opts.configs:
                kind = REWRITE_KIND.get(config)
                rw = None
                if kind is not None:
                    if kind not in rewrites:
                        rewrites[kind] = opts.rewriter.rewrite(b.text, kind, b.source_id)
                        if rewrites[kind].problems or rewrites[kind].flags:
                            flagged.append({"source_id": b.source_id, "label": b.label, **rewrites[kind].to_dict()})
                    rw = rewrites[kind]
                    if rw.problems and not (opts.keep_flagged and rw.status == "ok"):
                        problems.append(f"{b.label} {b.source_id} {config}: {'; '.join(rw.problems)}")
                        continue
                text, parts = _items_for(b, config, rw, media, opts)
                extension = b.label == "benign" and config in BENIGN_EXTENSION_CONFIGS
                records[(b.label, config)].append(_record(b, config, text, parts, rw, extension))
            bar.update(1)
            if progress is not None:
                progress(1)
    meta_dir = opts.out / METADATA_DIR
    for (label, config), recs in sorted(records.items()):
        body = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in recs)
        atomic_write_bytes(meta_dir / metadata_name(label, config), body.encode("utf-8"))
    # Metadata of configurations / labels not produced this time would be stale: remove them.
    produced = {metadata_name(lab, cfg) for lab, cfg in records}
    for stale in meta_dir.glob("*.jsonl"):
        if stale.name not in produced:
            stale.unlink()
    counts: dict[str, dict[str, int]] = {c: {} for c in opts.configs}
    for (label, config), recs in records.items():
        counts[config][label] = len(recs)
    warnings = [f"typography overflow (text clipped at the bottom): {t[:60]!r}" for t in sorted(set(media.overflow))]
    balance = balance_warning(sum(b.label == "harmful" for b in behaviours), sum(b.label == "benign" for b in behaviours))
    if balance:
        warnings.insert(0, balance)
    n_fallback = sum(1 for f in flagged if "fallback" in f.get("flags", []))
    if n_fallback:
        warnings.append(f"{n_fallback} rewrite(s) used the generic fallback (no connector found; the whole "
                        "prompt is the payload)")
    manifest = {
        "schema": BUILD_SCHEMA,
        "source": opts.source,
        "origin": "rebuilt",
        "configs": list(opts.configs),
        "counts": counts,
        "rewriter": opts.rewriter.describe(),
        "speech": media.speech_info,
        "typography": opts.typography.to_dict(),
        "font": opts.typography.font_record(),
        "prompts": {"harmful": sum(b.label == "harmful" for b in behaviours),
                    "benign": sum(b.label == "benign" for b in behaviours)},
        "video": opts.video.to_dict(),
        "benign_media_instruction": opts.benign_media_instruction,
        "keep_flagged": opts.keep_flagged,
        "versions": {**media_library_versions(), "python": platform.python_version(), **_harness_version()},
        "problems": problems,
        "warnings": warnings,
        "flagged_rewrites": flagged,
    }
    atomic_write_bytes(opts.out / MANIFEST, (json.dumps(manifest, indent=1, ensure_ascii=False, sort_keys=True)
                                             + "\n").encode("utf-8"))
    return BuildReport(opts.out, counts, problems, warnings)


def _harness_version() -> dict[str, str]:
    import harness

    out = {"harness": harness.__version__}
    try:
        rev = subprocess.run(["git", "-C", str(Path(__file__).resolve().parent), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=5, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        rev = ""
    if rev:
        out["harness_git"] = rev
    return out
