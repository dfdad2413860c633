"""Every benchmark card on a small sample written in its upstream layout: ids, labels, configurations, media."""

from pathlib import Path

import pytest

from harness.media_io import validate_media
from harness.run.registries import default_registries
from tasks.base import TaskContext
from tests.support import task_data as td


@pytest.fixture(scope="module")
def registry():
    return default_registries().tasks


def load(registry, name, tmp_path, data_root, configs=()):
    task = registry.get(name)(TaskContext(cache_dir=tmp_path / "cache", data_root=data_root))
    return task, task.load(list(configs))


def check_common(samples, task_name):
    ids = [s.id for s in samples]
    assert len(ids) == len(set(ids))
    for s in samples:
        assert s.id.startswith(f"{task_name}/{s.config}/{s.label}/")
        assert s.task == task_name
        for part in s.media:
            assert Path(part.path).is_absolute() and validate_media(part.type, part.path) is None, part.path
        kinds = [p.type for p in s.messages[0].content]
        assert kinds == sorted(kinds, key=["image", "video", "audio", "text"].index)  # media first, then text


def test_omni_safetybench(registry, tmp_path):
    td.write_omni_safetybench(tmp_path / "omni-safetybench", n_seeds=3)
    task, samples = load(registry, "omni-safetybench", tmp_path, tmp_path)
    check_common(samples, "omni-safetybench")
    assert len(samples) == 24 * 3 and task.size() == 72
    by_config = {c: [s for s in samples if s.config == c] for c in task.configurations()}
    assert all(len(v) == 3 for v in by_config.values())
    assert {s.label for s in samples} == {"harmful"}
    assert {s.metadata["judge_template"] for s in samples} == {"omni_safetybench"}
    # parallel ids: the same seed carries the same source_id in all 24 variants
    seed0 = [s for s in samples if s.metadata["seed_id"] == 0]
    assert len(seed0) == 24 and {s.source_id for s in seed0} == {"omni-safetybench/0"}
    assert {s.category for s in seed0} == {"HateSpeech"}
    modality = {c: v[0].modality for c, v in by_config.items()}
    assert modality["text-only"] == "text" and modality["video-only"] == "video"
    assert modality["audio-text/tts_noise"] == "audio+text"
    assert modality["video-audio-text/diff_typo-tts"] == "audio+text+video"
    # media come out of the tar archives into the cache, keyed by archive hash, with the member's name
    iat = by_config["image-audio-text/typo-tts"][0]
    image, audio = (p.path for p in iat.media)
    assert "/cache/archives/" in image and Path(image).name == "HateSpeech_0.png"
    assert Path(audio).suffix == ".mp3"
    assert by_config["image-only"][0].text == ""
    # selection by group
    _, iat_only = load(registry, "omni-safetybench", tmp_path, tmp_path, ["iat"])
    assert {s.config for s in iat_only} == {"image-audio-text/diffusion-tts", "image-audio-text/typo-tts",
                                            "image-audio-text/diff_typo-tts"}
    # a second load reuses the extraction (no new files, same ids)
    before = sorted(p for p in (tmp_path / "cache" / "archives").rglob("*") if p.is_file())
    _, again = load(registry, "omni-safetybench", tmp_path, tmp_path)
    assert [s.id for s in again] == [s.id for s in samples]
    assert sorted(p for p in (tmp_path / "cache" / "archives").rglob("*") if p.is_file()) == before


def test_mm_safetybench(registry, tmp_path):
    td.write_mm_safetybench(tmp_path / "mm-safetybench", n=2, image_dir="MM-SafetyBench(imgs)")
    task, samples = load(registry, "mm-safetybench", tmp_path, tmp_path)
    check_common(samples, "mm-safetybench")
    assert len(samples) == 2 * 2 * 3  # scenarios x questions x flavours
    sd = [s for s in samples if s.config == "sd"]
    typo = [s for s in samples if s.config == "typo"]
    assert sd[0].text == "The image shows phrase 00. Explain." and typo[0].text.startswith("The bottom of the image")
    assert sd[0].media[0].path.endswith("MM-SafetyBench(imgs)/01-Illegal_Activitiy/SD/0.jpg")
    assert [s.media[0].path.split("/")[-2] for s in samples if s.config == "sd_typo"] == ["SD_TYPO"] * 4
    assert {s.category for s in samples} == set(td.MMSB_SCENARIOS)
    assert sd[0].source_id == "mm-safetybench/01-Illegal_Activitiy/0" and sd[0].metadata["key_phrase"] == "phrase 00"
    assert {s.label for s in samples} == {"harmful"} and all(s.modality == "image+text" for s in samples)


def test_vlguard(registry, tmp_path):
    td.write_vlguard(tmp_path / "vlguard")
    task, samples = load(registry, "vlguard", tmp_path, tmp_path)
    check_common(samples, "vlguard")
    got = {(s.config, s.label, s.text) for s in samples}
    assert got == {("safe_unsafe", "harmful", "How do I bypass its payment?"),
                   ("unsafe", "harmful", "Write a caption for this."),
                   ("safe_safe", "benign", "What is advertised here?")}
    safe_safe = next(s for s in samples if s.config == "safe_safe")
    assert safe_safe.media[0].path == str(tmp_path / "vlguard" / "test" / "bad_ads" / "a1.png")
    assert safe_safe.source_id == "vlguard/HOD_1" and "judge_template" not in safe_safe.metadata  # default
    _, harmful = load(registry, "vlguard", tmp_path, tmp_path, ["harmful"])
    assert {s.config for s in harmful} == {"safe_unsafe", "unsafe"}


def test_jailbreakv_hub_snapshot(registry, tmp_path):
    td.write_jailbreakv(tmp_path / "jailbreakv-28k")
    task, samples = load(registry, "jailbreakv-28k", tmp_path, tmp_path)
    check_common(samples, "jailbreakv-28k")
    mini = [s for s in samples if s.config == "mini"]
    full = [s for s in samples if s.config == "full"]
    assert len(mini) == 2 and len(full) == 3
    assert full[1].text == "jailbreak text 1" and full[1].category == "Malware"
    assert full[1].media[0].path == str(tmp_path / "jailbreakv-28k" / "JailBreakV_28K" / "figstep" / "q_1.png")
    assert full[1].metadata["format"] == "figstep" and full[1].metadata["redteam_query"] == "redteam 1"
    assert {s.id for s in mini} & {s.id for s in full} == set()  # configuration is part of the id
    assert task.size() == 5


def test_figstep(registry, tmp_path):
    td.write_figstep(tmp_path / "figstep")
    task, samples = load(registry, "figstep", tmp_path, tmp_path)
    check_common(samples, "figstep")
    assert len(samples) == 3 and {s.config for s in samples} == {"safebench"}
    s = samples[1]
    assert s.text.startswith("The image shows a list numbered 1, 2, and 3")
    assert s.media[0].path.endswith("data/images/SafeBench/query_SafeBench_1_2_6.png")
    assert s.source_id == "SafeBench_1_2" and s.category == "Topic 1"
    assert s.metadata["instruction"] == "Steps to do thing 1-2."


def test_holisafe(registry, tmp_path):
    td.write_holisafe(tmp_path / "holisafe")
    task, samples = load(registry, "holisafe", tmp_path, tmp_path)
    check_common(samples, "holisafe")
    assert [s.config for s in samples].count("SSS") == 2 and len(samples) == 6
    for s in samples:
        assert s.label == ("benign" if s.config == "SSS" else "harmful")
        assert s.metadata["type"] == s.config
        assert s.metadata.get("judge_template") == (None if s.label == "benign" else "safety_query")
    assert samples[0].media[0].path == str(tmp_path / "holisafe" / "images" / "sss" / "img_0.png")


def test_mm_vet(registry, tmp_path):
    td.write_mm_vet(tmp_path / "mm-vet")
    task, samples = load(registry, "mm-vet", tmp_path, tmp_path)
    check_common(samples, "mm-vet")
    assert [s.source_id for s in samples] == ["v1_0", "v1_1"]
    assert samples[1].category == "ocr,math" and samples[1].reference == "answer 1"
    assert all(s.label == "benign" for s in samples)
    assert samples[0].media[0].path == str(tmp_path / "mm-vet" / "images" / "v1_0.png")


def test_omnibench(registry, tmp_path):
    td.write_omnibench(tmp_path / "omnibench")
    task, samples = load(registry, "omnibench", tmp_path, tmp_path)
    check_common(samples, "omnibench")
    assert len(samples) == 3 and all(s.label == "utility" and s.modality == "audio+image+text" for s in samples)
    s = samples[1]
    assert s.text.splitlines() == ["What happens 1?", "A. opt 1a", "B. opt 1b", "C. opt 1c", "D. opt 1d",
                                   "Answer with the letter of the correct option."]
    assert s.reference == "B. opt 1b" and s.category == "Action"
    assert s.metadata["audio_type"] == "speech" and s.metadata["options"] == ["opt 1a", "opt 1b", "opt 1c", "opt 1d"]
    image, audio = s.media
    assert image.type == "image" and audio.type == "audio" and audio.path.endswith(".mp3")
    assert "judge_template" not in s.metadata  # mcq is the default for utility
