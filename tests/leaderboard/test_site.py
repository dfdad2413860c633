"""The static site without a browser: files, escaping of everything that came from a run, media, exports."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from PIL import Image

from judges.keyword import KeywordJudge
from leaderboard.build import SiteDirError
from leaderboard.media import MediaAssets, MediaPolicy, sniff
from leaderboard.runpage import json_for_script, media_paths, ndjson_for_script
from tests.support.leaderboard_runs import media_samples, refuse_every, text_samples, write_scored_run

EVIL = '</script><script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> & <!-- x'


def evil_respond(s):
    return EVIL if s.label == "harmful" else refuse_every(2)(s)


@pytest.fixture
def site(tmp_path, build, media):
    runs = tmp_path / "runs"
    samples = text_samples("smoke", "text", 4, 4)
    samples += media_samples("smoke", "image", "image", [media.image, media.image_rgba])
    samples += media_samples("smoke", "audio", "audio", [media.speech], label="benign")
    evil = write_scored_run(runs, samples, model="<b>bold-model</b>", respond=evil_respond, notes=["<i>note</i>"])
    guard = write_scored_run(runs, samples, model="<b>bold-model</b>", defense="guard", respond=refuse_every(1),
                             seconds_per_sample=0.03)
    write_scored_run(runs, text_samples("smoke", "text", 2, 2), model="other",
                     judges=[KeywordJudge(preset="omnisteer")])
    result = build(runs)
    out = result.index.parent
    return out, result, out / "run" / f"{evil.name}.html", out / "run" / f"{guard.name}.html"


def test_writes_index_run_pages_exports_and_assets(site):
    out, result = site[:2]
    assert result.runs == 3 and result.main_rows == 2 and result.separate_rows == 1
    assert len(list((out / "run").glob("*.html"))) == 3
    assert {p.name for p in (out / "static").iterdir()} == {"site.css", "index.js", "run.js"}
    assert len(list((out / "data").glob("samples-*.js"))) == 2  # two distinct samples.jsonl among three runs
    assert (out / "leaderboard.json").exists() and (out / "leaderboard.csv").exists()


def test_no_external_resources(site):
    out = site[0]
    for path in [*out.glob("*.html"), *out.glob("run/*.html"), *out.glob("static/*")]:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), path
        assert "fetch(" not in text and "XMLHttpRequest" not in text and "@import" not in text, path


def test_model_names_and_notes_are_escaped(site):
    out = site[0]
    index = (out / "index.html").read_text()
    assert "<b>bold-model</b>" not in index and "&lt;b&gt;bold-model&lt;/b&gt;" in index
    assert "<b>bold-model" not in site[3].read_text()
    page = site[2].read_text()
    assert "<b>bold-model" not in page and "<i>note</i>" not in page and "&lt;i&gt;note&lt;/i&gt;" in page


def test_model_output_never_reaches_the_page_as_markup(site):
    out = site[0]
    page = site[2].read_text()
    assert "window.__pwned" in page  # the response is on the page ...
    assert "<img src=x" not in page and "<script>window" not in page and "<!-- x" not in page  # ... but inert
    # exactly our own script elements: meta, generations, verdicts, samples file, run.js
    assert page.count("</script>") == 5 and page.count("<script") == 5
    data = re.search(r'<script type="application/x-ndjson" id="osh-generations">(.*?)</script>', page, re.S).group(1)
    decoded = [json.loads(line) for line in data.splitlines() if line.strip()]
    assert EVIL in {g["response"] for g in decoded}  # unchanged once parsed


def test_embedding_helpers():
    assert json_for_script({"a": "</script><!--&"}) == '{"a": "\\u003c/script\\u003e\\u003c!--\\u0026"}'
    assert json.loads(json_for_script({"a": "</script>\u2028"})) == {"a": "</script>\u2028"}
    line = json.dumps({"r": "<script>"}).encode()
    assert b"<" not in ndjson_for_script(line) and json.loads(ndjson_for_script(line)) == {"r": "<script>"}


def test_media_paths_reads_media_parts_only():
    rows = [{"messages": [{"role": "user", "content": [{"type": "image", "path": "/a.png"},
                                                       {"type": "text", "text": '"type": "audio"'}]}]},
            {"messages": [{"role": "user", "content": [{"type": "audio", "path": "/b.wav"},
                                                       {"type": "image", "path": "/a.png"}]}]}]
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    assert media_paths(data) == [("image", "/a.png"), ("audio", "/b.wav")]
    assert media_paths(b'{"messages": [{"content": [{"type": "text", "text": "hi"}]}]}\n') == []


class TestMedia:
    def test_large_images_become_bounded_jpeg_thumbnails_small_ones_are_copied(self, tmp_path, media):
        big = tmp_path / "big.png"
        Image.new("RGBA", (1200, 600), (255, 0, 0, 128)).save(big)
        policy = MediaPolicy((tmp_path, media.image_rgba.parent), thumb_px=100)
        assets = MediaAssets(tmp_path / "site", policy)
        a = assets.asset("image", str(big))
        with Image.open(tmp_path / "site" / a["src"]) as img:
            assert img.format == "JPEG" and img.mode == "RGB" and max(img.size) == 100
        assert MediaAssets(tmp_path / "site", policy).asset("image", str(big)) == a  # a rebuild reuses it
        small = assets.asset("image", str(media.image_rgba))
        assert small["src"].endswith(".png")
        assert (tmp_path / "site" / small["src"]).read_bytes() == media.image_rgba.read_bytes()

    def test_prepare_makes_assets_in_parallel_with_the_same_result(self, tmp_path, media):
        items = [("image", str(media.image)), ("audio", str(media.speech)), ("image", str(tmp_path / "gone.png"))]
        policy = MediaPolicy((tmp_path, media.image.parent, media.speech.parent))
        parallel = MediaAssets(tmp_path / "a", policy)
        parallel.prepare(items * 2)
        serial = MediaAssets(tmp_path / "b", MediaPolicy(policy.roots, workers=1))
        assert [parallel.asset(*i) for i in items] == [serial.asset(*i) for i in items]
        assert "src" in parallel.asset(*items[0]) and "src" in parallel.asset(*items[1])

    def test_audio_and_video_are_copied_after_a_magic_check(self, tmp_path, media):
        assets = MediaAssets(tmp_path / "site", MediaPolicy((Path(media.speech).parent,)))
        wav = assets.asset("audio", str(media.speech))
        assert wav["src"].endswith(".wav")
        assert (tmp_path / "site" / wav["src"]).read_bytes() == media.speech.read_bytes()
        assert assets.asset("audio", str(media.stereo))["src"].endswith(".flac")
        video = assets.asset("video", str(media.video))
        assert video["kind"] == "video" and video["src"].endswith(".mp4")
        assert sniff(b"RIFF\x00\x00\x00\x00WAVEfmt ") == ("audio", "wav") and sniff(b"#!/bin/sh\n") is None

    def test_refuses_files_outside_the_roots_non_media_and_oversized(self, tmp_path, media):
        inside = tmp_path / "inside"
        inside.mkdir()
        secret = inside / "secret.wav"
        secret.write_text("-----BEGIN PRIVATE KEY-----")
        assets = MediaAssets(tmp_path / "site", MediaPolicy((inside,), max_copy_bytes=10))
        assert "outside" in assets.asset("audio", str(media.speech))["missing"]
        unlimited = MediaAssets(tmp_path / "s2", MediaPolicy((inside,)))
        assert "not a recognised" in unlimited.asset("audio", str(secret))["missing"]
        assert "too large" in assets.asset("audio", str(secret))["missing"]
        assert "not on this machine" in assets.asset("image", str(inside / "nope.png"))["missing"]
        link = inside / "link.wav"
        link.symlink_to(media.speech)  # resolves outside the root
        assert "outside" in assets.asset("audio", str(link))["missing"]
        assert "not readable" in unlimited.asset("image", str(secret))["missing"]
        svg = inside / "x.svg"
        svg.write_text('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')
        assert "missing" in unlimited.asset("image", str(svg))
        assert not [p for p in (tmp_path / "site").rglob("*") if p.is_file()]


def test_refuses_a_foreign_output_folder_and_clears_stale_pages(tmp_path, build):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    runs = tmp_path / "runs"
    with pytest.raises(SiteDirError, match="not written by"):
        build(runs, foreign)
    assert (foreign / "keep.txt").exists()
    run = write_scored_run(runs, text_samples("smoke", "text", 2, 2), model="a")
    build(runs)
    assert len(list((tmp_path / "site" / "run").glob("*.html"))) == 1
    import shutil

    shutil.rmtree(run)
    result = build(runs)
    assert result.runs == 0 and not list((tmp_path / "site" / "run").glob("*.html"))
    assert "No run conforms" in result.index.read_text()


def test_runs_without_summary_are_listed_as_skipped(tmp_path, build):
    runs = tmp_path / "runs"
    run = write_scored_run(runs, text_samples("smoke", "text", 2, 2), model="a")
    (run / "summary.json").unlink()
    result = build(runs)
    assert result.runs == 0 and "never judged" in result.skipped[0].reason


class TestExports:
    def test_json_and_csv_hold_the_same_rows_as_the_page(self, site):
        out = site[0]
        table = json.loads((out / "leaderboard.json").read_text())
        assert table["schema"] == "leaderboard.table/1"
        rows = table["rows"]
        assert [(r["table"], r["model"], r["defense"]) for r in rows] == [
            ("main", "<b>bold-model</b>", "none"), ("main", "<b>bold-model</b>", "guard"),
            ("separate", "other", "none")]
        assert table["references"]["smoke"]["judge"] == KeywordJudge().id
        main = rows[0]
        assert main["overall"]["asr"]["value"] == 1.0  # every harmful answer is the (complying) evil string
        assert set(main["cells"]) == {"smoke/text", "smoke/image", "smoke/audio"}
        assert "judged by" in rows[2]["reasons"][0]
        parsed = list(csv.DictReader(io.StringIO((out / "leaderboard.csv").read_text())))
        assert [(r["table"], r["model"], r["defense"]) for r in parsed] == [
            (r["table"], r["model"], r["defense"]) for r in rows]
        assert float(parsed[0]["overall_asr"]) == 1.0 and parsed[0]["smoke/text:asr_n"] == "4"
        assert float(parsed[1]["overhead_ratio"]) == pytest.approx(3.0)

    def test_csv_neutralises_formulas(self, tmp_path, build):
        runs = tmp_path / "runs"
        write_scored_run(runs, text_samples("smoke", "text", 2, 2), model="=HYPERLINK(\"x\")")
        out = build(runs).index.parent
        parsed = list(csv.DictReader(io.StringIO((out / "leaderboard.csv").read_text())))
        assert parsed[0]["model"] == "'=HYPERLINK(\"x\")"


def test_malformed_summaries_are_skipped_with_the_reason_not_fatal(tmp_path, build):
    runs = tmp_path / "runs"
    good = write_scored_run(runs, text_samples("smoke", "text", 2, 2), model="a")
    bad = write_scored_run(runs, text_samples("smoke", "text", 2, 2), model="b")
    summary = json.loads((bad / "summary.json").read_text())
    summary["rows"][0]["asr"] = "lots"
    summary["rows"][1]["asr"] = "lots"
    (bad / "summary.json").write_text(json.dumps(summary))
    result = build(runs)
    assert result.runs == 1 and result.main_rows == 1
    assert [(s.path.name, s.reason) for s in result.skipped] == [(bad.name, "summary.json: a row with a malformed asr")]
    assert good.name in result.index.read_text()
