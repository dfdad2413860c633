"""Submission bundles: a good bundle is ingested; a tampered one is refused with the reason and nothing written."""

from __future__ import annotations

import hashlib
import io
import json
import stat
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from defenses.base import NoDefense, source_hash
from harness.summary import summarise
from judges.keyword import KeywordJudge
from leaderboard.bundle import MANIFEST, BundleRejected, BundleRun, add_bundle, write_bundle
from harness.run.submit import build_manifest
from tests.support.leaderboard_runs import text_samples, write_scored_run

PASSED = {"passed": True, "checks": [{"name": "hooks-removed", "passed": True}]}


def make_bundle(tmp_path: Path, standard, registries, *, judges=(), task_version="1", contract=PASSED,
                limit=None, name="bundle.zip") -> Path:
    run = write_scored_run(tmp_path / "work", text_samples("smoke", "text", 3, 3), model="tiny-text",
                           judges=judges, task_version=task_version, limit=limit,
                           defense_info={"name": "none", "status": "", "params": {},
                                         "source_hash": source_hash(NoDefense)})
    manifest = build_manifest(standard, standard.suite("tiny"), registries, model="tiny-text", defense="none",
                              defense_params={}, contract=contract)
    return write_bundle(tmp_path / name, [BundleRun(run, "defense")], manifest, contract)


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def rewrite(path: Path, change: Callable[[dict[str, bytes]], None], *, rehash: bool) -> Path:
    """Apply `change` to the members; with `rehash` also fix the manifest's hashes (a consistent forgery)."""
    files = members(path)
    change(files)
    if rehash:
        manifest = json.loads(files[MANIFEST])
        manifest["files"] = {k: hashlib.sha256(v).hexdigest() for k, v in files.items() if k != MANIFEST}
        files[MANIFEST] = json.dumps(manifest).encode()
    out = path.with_name("tampered.zip")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    out.write_bytes(buf.getvalue())
    return out


def run_file(files: dict[str, bytes], name: str) -> str:
    return next(k for k in files if k.endswith("/" + name))


@pytest.fixture
def add(tmp_path, standard, registries):
    def run(bundle: Path, **kw):
        return add_bundle(bundle, tmp_path / "leaderboard-runs", standard=standard, registries=registries, **kw)
    return run


def nothing_ingested(tmp_path: Path) -> bool:
    sub = tmp_path / "leaderboard-runs" / "submissions"
    return not sub.exists() or not [p for p in sub.iterdir() if not p.name.startswith(".")]


def test_a_good_bundle_is_ingested_once_and_shows_on_the_site(tmp_path, standard, registries, add, build):
    bundle = make_bundle(tmp_path, standard, registries)
    run = next((tmp_path / "work").iterdir())
    manifest = {"model": "x"}
    one = write_bundle(tmp_path / "one.zip", [BundleRun(run, "defense")], manifest, PASSED).read_bytes()
    assert one == write_bundle(tmp_path / "two.zip", [BundleRun(run, "defense")], manifest, PASSED).read_bytes()
    result = add(bundle)
    assert not result.already and result.path.parent == tmp_path / "leaderboard-runs" / "submissions"
    run_dir = result.path / result.run_ids[0]
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(
        ["spec.json", "samples.jsonl", "generations.jsonl", "verdicts.jsonl", "summary.json", "run_info.json"])
    assert json.loads((result.path / MANIFEST).read_text())["model"] == "tiny-text"
    assert (result.path / "contract.json").exists()
    assert add(bundle).already
    site = build(tmp_path / "leaderboard-runs")
    assert site.main_rows == 1 and f"submission {result.submission_id}" in site.index.read_text()


def test_changed_file_is_refused(tmp_path, standard, registries, add):
    bundle = make_bundle(tmp_path, standard, registries)

    def change(files):
        name = run_file(files, "generations.jsonl")
        files[name] = files[name].replace(b"Sorry, I cannot help", b"Sure, I can help")

    with pytest.raises(BundleRejected, match=r"generations.jsonl was changed after the bundle was made"):
        add(rewrite(bundle, change, rehash=False))
    assert nothing_ingested(tmp_path)


def test_added_or_missing_files_are_refused(tmp_path, standard, registries, add):
    bundle = make_bundle(tmp_path, standard, registries)
    with pytest.raises(BundleRejected, match="is in the bundle but not in the manifest"):
        add(rewrite(bundle, lambda f: f.__setitem__("contract2.json", b"{}"), rehash=False))
    with pytest.raises(BundleRejected, match="listed in the manifest but missing"):
        add(rewrite(bundle, lambda f: f.pop(run_file(f, "verdicts.jsonl")), rehash=False))
    with pytest.raises(BundleRejected, match="unexpected file in the bundle: 'notes.txt'"):
        add(rewrite(bundle, lambda f: f.__setitem__("notes.txt", b"hi"), rehash=True))
    assert nothing_ingested(tmp_path)


def test_other_judge_is_refused(tmp_path, standard, registries, add):
    other = KeywordJudge(preset="omnisteer")
    bundle = make_bundle(tmp_path, standard, registries, judges=[other])
    with pytest.raises(BundleRejected) as err:
        add(bundle)
    assert f"judged by {other.id}; the pinned judge is {KeywordJudge().id}" in str(err.value)
    assert nothing_ingested(tmp_path)


def test_manifest_claiming_another_judge_is_refused(tmp_path, standard, registries, add):
    bundle = make_bundle(tmp_path, standard, registries)

    def change(files):
        manifest = json.loads(files[MANIFEST])
        manifest["judges"]["smoke"] = "llm@deadbeef"
        files[MANIFEST] = json.dumps(manifest).encode()

    with pytest.raises(BundleRejected, match="manifest names judge llm@deadbeef for task smoke"):
        add(rewrite(bundle, change, rehash=False))


def test_other_task_version_is_refused(tmp_path, standard, registries, add):
    bundle = make_bundle(tmp_path, standard, registries, task_version="0")
    with pytest.raises(BundleRejected, match="task smoke is version 0; the current task card is version 1"):
        add(bundle)
    assert nothing_ingested(tmp_path)


def test_forged_summary_is_refused_even_with_fixed_hashes(tmp_path, standard, registries, add):
    bundle = make_bundle(tmp_path, standard, registries)

    def change(files):
        name = run_file(files, "summary.json")
        summary = json.loads(files[name])
        for row in summary["rows"]:
            if row["asr"]:
                row["asr"]["value"] = 0.0
        files[name] = json.dumps(summary).encode()

    with pytest.raises(BundleRejected, match="summary.json does not match its samples, generations and verdicts"):
        add(rewrite(bundle, change, rehash=True))


def test_edited_spec_is_refused_even_with_fixed_hashes(tmp_path, standard, registries, add):
    bundle = make_bundle(tmp_path, standard, registries)

    def change(files):
        spec_name = run_file(files, "spec.json")
        spec = json.loads(files[spec_name])
        spec["limit"] = 1
        files[spec_name] = json.dumps(spec).encode()

    with pytest.raises(BundleRejected, match=r"spec.json describes run .* \(the spec was edited\)"):
        add(rewrite(bundle, change, rehash=True))


@pytest.mark.parametrize("where,match", [
    ("manifest-schemas", "record schema mismatch: the bundle's runspec schema is 'harness.runspec/0'"),
    ("manifest", "manifest.json schema is 'harness.submission/0'"),
    ("summary", "summary.json schema is 'harness.summary/9'"),
])
def test_schema_mismatch_is_refused(tmp_path, standard, registries, add, where, match):
    bundle = make_bundle(tmp_path, standard, registries)

    def change(files):
        if where == "summary":
            name = run_file(files, "summary.json")
            data = json.loads(files[name])
            data["schema"] = "harness.summary/9"
            files[name] = json.dumps(data).encode()
            return
        manifest = json.loads(files[MANIFEST])
        if where == "manifest":
            manifest["schema"] = "harness.submission/0"
        else:
            manifest["schemas"]["runspec"] = "harness.runspec/0"
        files[MANIFEST] = json.dumps(manifest).encode()

    with pytest.raises(BundleRejected, match=match):
        add(rewrite(bundle, change, rehash=True))


@pytest.mark.parametrize("name,match", [
    ("../../escape.txt", "path traversal"),
    ("runs/../../escape.txt", "path traversal"),
    ("/etc/escape.txt", "absolute"),
    ("C:/escape.txt", "drive"),
    ("runs\\x\\spec.json", "backslashes"),
])
def test_unsafe_paths_are_refused_before_anything_is_written(tmp_path, standard, registries, add, name, match):
    bundle = make_bundle(tmp_path, standard, registries)
    with pytest.raises(BundleRejected, match=match):
        add(rewrite(bundle, lambda f: f.__setitem__(name, b"x"), rehash=True))
    assert nothing_ingested(tmp_path)
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path.parent / "escape.txt").exists()


def test_symlink_members_are_refused(tmp_path, standard, registries, add):
    bundle = make_bundle(tmp_path, standard, registries)
    with zipfile.ZipFile(bundle, "a") as zf:
        info = zipfile.ZipInfo("runs/link")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(BundleRejected, match="symbolic link"):
        add(bundle)


def test_not_a_zip_is_refused(tmp_path, add):
    bad = tmp_path / "bad.zip"
    bad.write_text("not a zip")
    with pytest.raises(BundleRejected, match="not a readable zip"):
        add(bad)


@pytest.mark.parametrize("contract,match", [
    ({"passed": False, "skipped": True}, "contract checks were skipped"),
    ({"passed": False, "checks": [{"name": "params-validated", "passed": False}]},
     "failed its contract checks: params-validated"),
])
def test_contract_failures_are_refused(tmp_path, standard, registries, add, contract, match):
    with pytest.raises(BundleRejected, match=match):
        add(make_bundle(tmp_path, standard, registries, contract=contract))


def test_non_standard_settings_are_refused_unless_allowed(tmp_path, standard, registries, add):
    bundle = make_bundle(tmp_path, standard, registries, limit=2)
    with pytest.raises(BundleRejected, match="not the standard suite tiny: run .* used limit 2, the suite uses None"):
        add(bundle)
    result = add(bundle, allow_nonstandard=True)
    assert "limit 2" in result.warnings[0] and result.path.exists()


def test_missing_verdicts_of_the_pinned_judge_are_refused(tmp_path, standard, registries, add):
    bundle = make_bundle(tmp_path, standard, registries)

    def change(files):
        from harness.records import Generation, RunSpec, Sample, Verdict

        lines = files[run_file(files, "verdicts.jsonl")].splitlines(keepends=True)
        files[run_file(files, "verdicts.jsonl")] = b"".join(lines[1:])
        spec = RunSpec.from_dict(json.loads(files[run_file(files, "spec.json")]))
        samples = [Sample.from_dict(json.loads(x)) for x in files[run_file(files, "samples.jsonl")].splitlines()]
        gens = {g.sample_id: g for g in (Generation.from_dict(json.loads(x))
                                         for x in files[run_file(files, "generations.jsonl")].splitlines())}
        verdicts = [Verdict.from_dict(json.loads(x)) for x in lines[1:]]
        by_judge = {KeywordJudge().id: {v.sample_id: v for v in verdicts}}
        old = json.loads(files[run_file(files, "summary.json")])
        files[run_file(files, "summary.json")] = json.dumps(
            summarise(spec, samples, gens, by_judge, old["judges"], KeywordJudge().id)).encode()

    with pytest.raises(BundleRejected, match=r"1 generation\(s\) have no verdict from the pinned judge"):
        add(rewrite(bundle, change, rehash=True))


def test_malformed_manifest_is_refused_not_a_crash(tmp_path, standard, registries, add):
    bundle = make_bundle(tmp_path, standard, registries)

    def change(files):
        manifest = json.loads(files[MANIFEST])
        manifest["defense"] = "none"
        files[MANIFEST] = json.dumps(manifest).encode()

    with pytest.raises(BundleRejected, match="`defense` is missing or not a dict"):
        add(rewrite(bundle, change, rehash=False))
