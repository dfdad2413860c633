"""Time `build_site` on a large synthetic run store: by default 100 runs x 5,000 samples.

The runs are in the real run-store format (samples, generations, keyword-judge verdicts, summary.json and
run_info.json, written by tests/support/leaderboard_runs.py through harness.store and harness.summary), shaped
like a leaderboard: 20 models x 5 defenses on one shared suite of 5,000 samples (3,250 text, 1,000 image,
500 audio, 250 video; 60 % harmful) with answers of 40-120 words. Media are shared across runs as in a real
suite: 450 distinct 512x512 PNG typography-style images (copied into the site as they are), 50 distinct
1600x1200 JPEG photos (made into thumbnails), 250 WAV clips, 50 MP4 clips.

    python -m benchmarks.leaderboard_build                     # from the repository root
    python -m benchmarks.leaderboard_build --data /tmp/lb-bench --json    # keep the generated runs for reuse

Reported: the median of `--repeat` builds into a fresh output folder (cold: every thumbnail made) and into the
folder of the previous build (warm: thumbnails reused), plus the site size. Target (issue 7): <= 5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.records import Sample, user_message

MODELS = 20
DEFENSES = ("none", "self-reminder", "omnisteer", "regap", "guard")
WORDS = ("the", "a", "model", "answer", "request", "can", "help", "here", "steps", "first", "then", "safe",
         "information", "general", "would", "like", "to", "explain", "process", "result", "<b>", "&", "data")


def media_files(root: Path, n_images: int, n_audio: int, n_video: int) -> dict[str, list[Path]]:
    import numpy as np
    import soundfile as sf
    from PIL import Image, ImageDraw

    from tests.harness.media_files import write_video

    out: dict[str, list[Path]] = {"image": [], "audio": [], "video": []}
    (root / "media").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n_images):
        if i % 10 == 9:  # a photo-like JPEG: smooth gradients with mild noise (about 300 KB at quality 85)
            path = root / "media" / f"photo{i}.jpg"
            y, x = np.mgrid[0:1200, 0:1600]
            base = np.stack([x * 255 // 1600, y * 255 // 1200, (x + y + 40 * i) % 256], axis=-1)
            noise = rng.normal(0, 6, base.shape)
            Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8)).save(path, quality=85)
        else:
            path = root / "media" / f"img{i}.png"
            img = Image.new("RGB", (512, 512), (255, 255 - i % 128, 255))
            ImageDraw.Draw(img).text((20, 240), f"typography image {i}: how to do something", fill="black")
            img.save(path)
        out["image"].append(path)
    t = np.arange(8000) / 16000
    for i in range(n_audio):
        path = root / "media" / f"clip{i}.wav"
        sf.write(path, (0.2 * np.sin(2 * np.pi * (200 + i) * t)).astype(np.float32), 16000)
        out["audio"].append(path)
    for i in range(n_video):
        out["video"].append(write_video(root / "media" / f"video{i}.mp4", frames=8, fps=4))
    return out


def suite_samples(n: int, media: dict[str, list[Path]]) -> list[Sample]:
    rng = random.Random(0)
    shares = (("image", 0.2), ("audio", 0.1), ("video", 0.05))
    counts = {kind: int(n * share) for kind, share in shares}
    counts["text"] = n - sum(counts.values())
    samples: list[Sample] = []
    for kind, count in counts.items():
        for i in range(count):
            label = "harmful" if i % 5 < 3 else "benign"
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 30)))
            extra = {kind: str(media[kind][i % len(media[kind])])} if kind != "text" else {}
            samples.append(Sample(id=f"bench/{kind}/{label}/{i}", task="bench", config=kind, label=label,
                                  messages=(user_message(f"Request {i}: {text}", **extra),),
                                  category="cat" + str(i % 7) if label == "harmful" else None, source_id=str(i)))
    return samples


def make_runs(root: Path, n_runs: int, n_samples: int) -> Path:
    from tests.support.leaderboard_runs import write_scored_run

    runs = root / "runs"
    media = media_files(root, n_images=500, n_audio=250, n_video=50)
    samples = suite_samples(n_samples, media)
    for r in range(n_runs):
        model, defense = f"model-{r // len(DEFENSES):02d}", DEFENSES[r % len(DEFENSES)]
        rng = random.Random(r)
        refuse = 0.2 + 0.6 * rng.random()

        def respond(s: Sample, rng: random.Random = rng, refuse: float = refuse) -> str:
            words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 120)))
            return ("I'm sorry, I cannot help with that. " if rng.random() < refuse else "Sure. ") + words

        write_scored_run(runs, samples, model=model, defense=defense, respond=respond,
                         seconds_per_sample=0.01 * (1 + 0.2 * (r % len(DEFENSES))))
    return runs


def time_builds(runs: Path, out_root: Path, repeat: int) -> dict[str, Any]:
    from harness.run import default_registries
    from leaderboard.build import build_site
    from leaderboard.standard import load_standard

    standard, registries = load_standard(), default_registries()
    roots = [runs.parent]
    cold, warm = [], []
    result = None
    for i in range(repeat):
        out = out_root / f"site{i}"
        t0 = time.perf_counter()
        result = build_site(runs, out, standard=standard, registries=registries, media_roots=roots)
        cold.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        build_site(runs, out, standard=standard, registries=registries, media_roots=roots)
        warm.append(time.perf_counter() - t0)
    site = out_root / "site0"
    size = sum(p.stat().st_size for p in site.rglob("*") if p.is_file())
    assert result is not None
    return {"runs": result.runs, "main_rows": result.main_rows, "cold_s": cold, "warm_s": warm,
            "cold_median_s": statistics.median(cold), "warm_median_s": statistics.median(warm),
            "site_mib": size / 2**20, "assets": len(list((site / "assets" / "media").iterdir()))}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--samples", type=int, default=5000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--data", type=Path, default=None, help="keep (or reuse) the generated runs in this folder")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="lb-bench-"))
    data = args.data or tmp / "data"
    try:
        runs = data / "runs"
        if not (runs.is_dir() and len(list(runs.glob("*/summary.json"))) == args.runs):
            shutil.rmtree(data, ignore_errors=True)
            t0 = time.perf_counter()
            make_runs(data, args.runs, args.samples)
            print(f"generated {args.runs} runs x {args.samples} samples in {time.perf_counter() - t0:.0f} s")
        data_mib = sum(p.stat().st_size for p in runs.rglob("*") if p.is_file()) / 2**20
        result = {"samples_per_run": args.samples, "run_store_mib": data_mib, **time_builds(runs, tmp, args.repeat),
                  "cpus": os.cpu_count(), "python": platform.python_version()}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=2))
    print(f"{result['runs']} runs x {args.samples} samples ({result['run_store_mib']:.0f} MiB of run files): "
          f"build {result['cold_median_s']:.2f} s into a fresh folder, {result['warm_median_s']:.2f} s rebuilding "
          f"(median of {args.repeat}); site {result['site_mib']:.0f} MiB, {result['assets']} media assets; "
          f"{result['cpus']} CPUs")
    return 0 if result["cold_median_s"] <= 5.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
