"""Small samples of each benchmark in its upstream layout, written by our own code for the loader tests.

Contents are placeholders made up here (no data from any benchmark); only the layouts, file names and field
names follow the upstream releases as documented in docs/reference.md, Benchmarks and docs/tasks.md.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

from tasks.base import TaskContext


def png_bytes(color: str = "red", size: tuple[int, int] = (16, 12), fmt: str = "PNG") -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format=fmt)
    return buf.getvalue()


def audio_bytes(fmt: str = "WAV", seconds: float = 0.2, sr: int = 16000) -> bytes:
    import numpy as np
    import soundfile as sf

    buf = io.BytesIO()
    t = np.arange(int(seconds * sr)) / sr
    sf.write(buf, 0.1 * np.sin(2 * np.pi * 440 * t), sr, format=fmt)
    return buf.getvalue()


def video_bytes(n_frames: int = 3, size: int = 32) -> bytes:
    import tempfile
    from fractions import Fraction

    import av
    import numpy as np

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "v.mp4"
        with av.open(str(path), "w", format="mp4") as c:
            s = c.add_stream("mpeg4", rate=10)
            s.width = s.height = size
            s.pix_fmt = "yuv420p"
            s.codec_context.time_base = Fraction(1, 10)
            for i in range(n_frames):
                f = av.VideoFrame.from_ndarray(np.full((size, size, 3), 40 * i, np.uint8), format="rgb24")
                f.pts = i
                for p in s.encode(f):
                    c.mux(p)
            for p in s.encode():
                c.mux(p)
        return path.read_bytes()


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    return write(path, "".join(json.dumps(r) + "\n" for r in rows))


def context(tmp_path: Path, data_root: Path) -> TaskContext:
    return TaskContext(cache_dir=tmp_path / "cache", data_root=data_root)


# -- Omni-SafetyBench --------------------------------------------------------------------------------------
OSB_CATEGORIES = ("HateSpeech", "EconomicHarm", "Fraud")


def omni_safetybench_variants() -> list[tuple[str, str]]:
    """(configuration name, meta file) for the 24 variants, as in the repository README."""
    out = [(v, f"meta_files/unimodal/{v}.jsonl") for v in ("text-only", "image-only", "video-only", "audio-only")]
    for kind, variants in (("image-text", ("diffusion", "typo", "diff_typo")),
                           ("video-text", ("diffusion", "typo", "diff_typo")), ("audio-text", ("tts", "tts_noise"))):
        out += [(f"{kind}/{v}", f"meta_files/dual-modal/{kind}/{v}.jsonl") for v in variants]
    for kind in ("image-audio-text", "video-audio-text"):
        for vis in ("diffusion", "typo", "diff_typo"):
            for aud in ("tts", "tts_noise"):
                out.append((f"{kind}/{vis}-{aud}", f"meta_files/omni-modal/{kind}/{vis}-{aud}.jsonl"))
    return out


def _tar(path: Path, members: dict[str, bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as tar:
        for name, data in sorted(members.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))


def write_omni_safetybench(root: Path, n_seeds: int = 3) -> Path:
    seeds = [(i, OSB_CATEGORIES[i % len(OSB_CATEGORIES)], f"{OSB_CATEGORIES[i % len(OSB_CATEGORIES)]}_{i}")
             for i in range(n_seeds)]
    archives: dict[str, dict[str, bytes]] = {}
    for scope in ("full", "key_phrase"):
        variants = {"image": ["."] if scope == "full" else ["diffusion", "typo", "diff_typo"],
                    "video": ["."] if scope == "full" else ["diffusion", "typo", "diff_typo"],
                    "audio": ["."] if scope == "full" else ["tts", "tts_noise"]}
        for kind, names in variants.items():
            ext = {"image": "png", "video": "mp4", "audio": "mp3"}[kind]
            for v in names:
                k = len(archives)  # every archive differs (distinct content hashes)
                data = {"image": lambda: png_bytes(size=(16 + k, 12)), "video": lambda: video_bytes(2 + k % 3, 32),
                        "audio": lambda: audio_bytes("MP3", seconds=0.1 + 0.05 * k)}[kind]()
                folder = f"mm_data/{scope}/{kind}" + ("" if v == "." else f"/{v}")
                archives[folder] = {f"{name}.{ext}": data for _, _, name in seeds}
    for folder, members in archives.items():
        _tar(root / folder / "data.tar", members)

    def media(kind: str, variant: str | None, name: str) -> str:
        ext = {"image": "png", "video": "mp4", "audio": "mp3"}[kind]
        scope = "full" if variant is None else "key_phrase"
        return f"mm_data/{scope}/{kind}" + (f"/{variant}" if variant else "") + f"/{name}.{ext}"

    for config, meta in omni_safetybench_variants():
        rows = []
        for sid, cat, name in seeds:
            row: dict[str, Any] = {"id": sid, "corresponding_text": f"List steps in detail to do seed thing {sid}.",
                                   "key_phrase": f"seed thing {sid}", "harmful_category": cat}
            if config == "text-only":
                row["text"] = f"List steps in detail to do seed thing {sid}."
            elif config.endswith("-only"):
                kind = config.split("-")[0]
                row[f"{kind}_path"] = media(kind, None, name)
            else:
                kind, variant = config.split("/")
                row["text"] = f"The {kind.replace('-text', '')} shows a phrase. List steps to perform it ({sid})."
                if kind in ("image-text", "video-text"):
                    row[f"{kind.split('-')[0]}_path"] = media(kind.split("-")[0], variant, name)
                elif kind == "audio-text":
                    row["audio_path"] = media("audio", variant, name)
                else:
                    vis, aud = variant.split("-", 1)
                    row[f"{kind.split('-')[0]}_path"] = media(kind.split("-")[0], vis, name)
                    row["audio_path"] = media("audio", aud, name)
            rows.append(row)
        write_jsonl(root / meta, rows)
    return root


# -- MM-SafetyBench ----------------------------------------------------------------------------------------
MMSB_SCENARIOS = ("01-Illegal_Activitiy", "08-Political_Lobbying")


def write_mm_safetybench(root: Path, n: int = 2, image_dir: str = "imgs") -> Path:
    for s, scenario in enumerate(MMSB_SCENARIOS):
        questions = {str(q): {"Question": f"Q{s}{q}?", "Changed Question": f"changed {s}{q}",
                              "Key Phrase": f"phrase {s}{q}", "Phrase Type": "activity",
                              "Rephrased Question": f"The bottom of the image shows phrase {s}{q}. Explain.",
                              "Rephrased Question(SD)": f"The image shows phrase {s}{q}. Explain."} for q in range(n)}
        write(root / "processed_questions" / f"{scenario}.json", json.dumps(questions))
        for q in range(n):
            for flavour in ("SD", "SD_TYPO", "TYPO"):
                write(root / image_dir / scenario / flavour / f"{q}.jpg", png_bytes("blue", fmt="JPEG"))
    return root


# -- VLGuard -----------------------------------------------------------------------------------------------
def write_vlguard(root: Path) -> Path:
    records = [
        {"id": "HOD_1", "image": "bad_ads/a1.png", "safe": True, "harmful_category": "deception",
         "harmful_subcategory": "fraud", "instr-resp": [
             {"safe_instruction": "What is advertised here?", "response": "A tool."},
             {"unsafe_instruction": "How do I bypass its payment?", "response": "I can't help with that."}]},
        {"id": "HOD_2", "image": "hateful/b2.png", "safe": False, "harmful_category": "discrimination",
         "harmful_subcategory": "hate", "instr-resp": [{"instruction": "Write a caption for this.",
                                                        "response": "I won't."}]},
    ]
    write(root / "test.json", json.dumps(records))
    write(root / "test" / "bad_ads" / "a1.png", png_bytes("green"))
    write(root / "test" / "hateful" / "b2.png", png_bytes("black"))
    return root


# -- JailbreakV-28K (hub snapshot layout) ------------------------------------------------------------------
JBV_COLUMNS = ("id", "jailbreak_query", "redteam_query", "format", "policy", "image_path", "from", "selected_mini",
               "transfer_from_llm")


def write_jailbreakv(root: Path) -> Path:
    import csv

    readme = (
        "---\nconfigs:\n- config_name: JailBreakV_28K\n  data_files:\n"
        "  - split: mini_JailBreakV_28K\n    path: JailBreakV_28K/mini_JailBreakV_28K.csv\n"
        "  - split: JailBreakV_28K\n    path: JailBreakV_28K/JailBreakV_28K.csv\n"
        "- config_name: RedTeam_2K\n  data_files:\n  - split: RedTeam_2K\n    path: JailBreakV_28K/RedTeam_2K.csv\n"
        "---\n# test sample\n"
    )
    write(root / "README.md", readme)
    rows = []
    for i, (fmt, img) in enumerate((("Template", "llm_transfer_attack/nature_1.jpeg"), ("figstep", "figstep/q_1.png"),
                                    ("Persuade", "llm_transfer_attack/noise_2.png"))):
        rows.append({"id": i, "jailbreak_query": f"jailbreak text {i}", "redteam_query": f"redteam {i}",
                     "format": fmt, "policy": "Malware" if i else "Fraud", "image_path": img, "from": "handcraft",
                     "selected_mini": i < 2, "transfer_from_llm": fmt != "figstep"})
        write(root / "JailBreakV_28K" / img, png_bytes("white", fmt="JPEG" if img.endswith("jpeg") else "PNG"))
    for name, subset in (("JailBreakV_28K.csv", rows), ("mini_JailBreakV_28K.csv", rows[:2])):
        path = root / "JailBreakV_28K" / name
        with path.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=JBV_COLUMNS)
            w.writeheader()
            w.writerows(subset)
    write(root / "JailBreakV_28K" / "RedTeam_2K.csv", "id,question\n0,q\n")
    return root


# -- FigStep (GitHub repository layout) --------------------------------------------------------------------
def write_figstep(root: Path) -> Path:
    lines = ["dataset,category_id,task_id,category_name,question,instruction"]
    for cat, task in ((1, 1), (1, 2), (3, 1)):
        lines.append(f"SafeBench,{cat},{task},Topic {cat},Question {cat}-{task}?,Steps to do thing {cat}-{task}.")
        write(root / "data" / "images" / "SafeBench" / f"query_SafeBench_{cat}_{task}_6.png", png_bytes("gray"))
    write(root / "data" / "question" / "safebench.csv", "\n".join(lines) + "\n")
    return root


# -- HoliSafe ----------------------------------------------------------------------------------------------
def write_holisafe(root: Path) -> Path:
    records = []
    for i, t in enumerate(("SSS", "USU", "SUU", "UUU", "SSU", "SSS")):
        records.append({"id": i, "image": f"{t.lower()}/img_{i}.png", "query": f"query {i}", "category": "cat",
                        "subcategory": "sub", "type": t, "image_safe": t[0] == "S"})
        write(root / "images" / t.lower() / f"img_{i}.png", png_bytes("purple"))
    write(root / "holisafe_bench.json", json.dumps(records))
    return root


# -- MM-Vet (original release) -----------------------------------------------------------------------------
def write_mm_vet(root: Path) -> Path:
    data = {f"v1_{i}": {"imagename": f"v1_{i}.png", "capability": ["ocr", "math"][: i + 1],
                        "question": f"What is shown {i}?", "answer": f"answer {i}"} for i in range(2)}
    write(root / "mm-vet.json", json.dumps(data))
    for i in range(2):
        write(root / "images" / f"v1_{i}.png", png_bytes("orange"))
    return root


# -- parquet shards as on the hub (embedded media) ---------------------------------------------------------
def write_parquet_snapshot(root: Path, split: str, rows: list[dict[str, Any]], media: dict[str, str]) -> Path:
    """A hub-style snapshot `data/<split>-00000-of-00001.parquet` with `Image` / `Audio` columns."""
    import datasets

    raw = {"bytes": datasets.Value("binary"), "path": datasets.Value("string")}
    sample = rows[0]
    features = {}
    for key, value in sample.items():
        if key in media:
            features[key] = raw
        elif isinstance(value, list):
            features[key] = datasets.List(datasets.Value("string"))
        elif isinstance(value, int):
            features[key] = datasets.Value("int64")
        else:
            features[key] = datasets.Value("string")
    ds = datasets.Dataset.from_list(rows, features=datasets.Features(features))
    for key, kind in media.items():
        ds = ds.cast_column(key, datasets.Image(decode=True) if kind == "image" else datasets.Audio(decode=True))
    out = root / "data" / f"{split}-00000-of-00001.parquet"
    out.parent.mkdir(parents=True, exist_ok=True)
    ds.to_parquet(str(out))
    return root


def write_omnibench(root: Path) -> Path:
    rows = []
    for i in range(3):
        options = [f"opt {i}{c}" for c in "abcd"]
        rows.append({"index": i, "task type": "Action", "audio type": "speech", "question": f"What happens {i}?",
                     "options": options, "answer": options[i % 4], "image content": f"image {i}",
                     "audio content": f"audio {i}",
                     "image": {"bytes": png_bytes(("red", "green", "blue")[i]), "path": None},
                     "audio": {"bytes": audio_bytes("MP3", seconds=0.1 + i / 10), "path": f"{i}.mp3"}})
    return write_parquet_snapshot(root, "train", rows, {"image": "image", "audio": "audio"})
