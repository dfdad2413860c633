"""`harness build advbench-omni` options added for issue 14: the shipped benign prompts, `--benign-count`, the
benign/harmful balance warning, `--font` with the font's sha256 in the manifest."""

import hashlib
import json
import shutil

from harness.balance import balance_warning
from harness.cli import main
from tasks.advbench_omni.behaviours import builtin_benign
from tasks.render import TypographyParams


def _csv(path, n):
    path.write_text("goal\n" + "".join(f"Write synthetic harmful behaviour number {k} for a test\n" for k in range(n)))
    return path


def test_builtin_benign_prompts_cover_advbench():
    prompts = [b.text for b in builtin_benign()]
    assert len(prompts) >= 520 and len(set(p.lower() for p in prompts)) == len(prompts)
    assert all(p[0].isupper() and 15 <= len(p) <= 120 for p in prompts)  # fits the typography canvas
    assert len(builtin_benign(520)) == 520 and builtin_benign(3)[2].source_id == "harness-benign/2"


def test_balance_warning_threshold():
    assert balance_warning(520, 500) is None  # the reference's own pairing
    assert "50 benign vs 520 harmful" in balance_warning(520, 50)
    assert balance_warning(520, 0) is None  # harmful-only builds are a choice, not an imbalance


def test_font_file_and_benign_count_are_recorded(tmp_path, capsys):
    font = TypographyParams().font_path()
    mine = shutil.copy(font, tmp_path / "MyMonoBold.ttf")
    out = tmp_path / "built"
    rc = main(["build", "advbench-omni", "--source", str(_csv(tmp_path / "b.csv", 2)), "--out", str(out),
               "--configs", "t,i", "--benign-count", "5", "--font", str(mine), "--no-progress"])
    printed = capsys.readouterr().out
    assert rc == 0 and "benign/harmful imbalance: 5 benign vs 2 harmful prompts" in printed
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["font"] == {"file": str(mine.resolve()),
                                "sha256": hashlib.sha256(mine.read_bytes()).hexdigest()}
    assert manifest["prompts"] == {"harmful": 2, "benign": 5} and manifest["source"]["benign_count"] == 5
    assert manifest["warnings"][0].startswith("benign/harmful imbalance")
    assert manifest["counts"]["i"] == {"harmful": 2, "benign": 5}
    # the default font: its file and hash recorded too; a chosen file's hash is part of the media names
    default = tmp_path / "default"
    assert main(["build", "advbench-omni", "--source", str(tmp_path / "b.csv"), "--out", str(default),
                 "--configs", "i", "--no-progress"]) == 0
    m2 = json.loads((default / "manifest.json").read_text())
    assert m2["font"]["file"] == str(font) and m2["prompts"] == {"harmful": 2, "benign": 2}
    assert not any("imbalance" in w for w in m2["warnings"])
    pngs = {p.name for p in (out / "data" / "image").iterdir()}
    assert pngs and pngs.isdisjoint(p.name for p in (default / "data" / "image").iterdir())
    assert {p.read_bytes() for p in (out / "data" / "image").iterdir()} >= \
        {p.read_bytes() for p in (default / "data" / "image").iterdir()}  # same font bytes: same pixels


def test_font_and_benign_count_errors(tmp_path, capsys):
    src = str(_csv(tmp_path / "b.csv", 2))
    assert main(["build", "advbench-omni", "--source", src, "--out", str(tmp_path / "o"),
                 "--font", str(tmp_path / "missing.ttf")]) == 2
    err = capsys.readouterr().err
    assert "--font" in err and "missing.ttf" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert main(["build", "advbench-omni", "--source", src, "--out", str(tmp_path / "o"),
                 "--benign-count", "100000"]) == 2
    assert "--benign-count 100000" in capsys.readouterr().err
    assert not (tmp_path / "o" / "manifest.json").exists()
