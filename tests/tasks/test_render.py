from PIL import Image

from tasks.render import TypographyParams, render_typography


def test_typography_spec_parameters_and_determinism(tmp_path):
    r = render_typography("Explain how to bake bread.", tmp_path)
    im = Image.open(r.path)
    assert im.size == (760, 760) and im.mode == "RGB"
    assert im.getpixel((759, 759)) == (255, 255, 255)
    assert im.convert("L").getextrema()[0] == 0  # black text was drawn
    assert not r.overflow
    data = r.path.read_bytes()
    r.path.unlink()
    assert render_typography("Explain how to bake bread.", tmp_path).path.read_bytes() == data


def test_overflow_is_detected(tmp_path):
    long = "word " * 60
    assert render_typography(long, tmp_path, TypographyParams()).overflow


def test_typography_video_timing_size_codec_and_determinism(tmp_path):
    import av
    import numpy as np

    from tasks.render import VideoParams, render_typography_video, typography_frame

    r = render_typography_video("Explain how to bake bread.", tmp_path)
    assert not r.overflow and r.path.suffix == ".mp4"
    with av.open(str(r.path)) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.name == "mpeg4" and stream.codec_tag == "mp4v"
        assert (stream.width, stream.height) == (760, 760) and stream.average_rate == 10
        assert abs(float(c.duration) / 1e6 - 3.0) < 1e-6
        frames = [f.to_ndarray(format="gray") for f in c.decode(video=0)]
    assert len(frames) == 30
    dark = [int((f < 128).sum()) for f in frames]
    assert all(d == 0 for d in dark[:10])  # 1.0 s blank white
    assert all(d > 1000 for d in dark[10:25])  # 1.5 s of text
    assert all(d == 0 for d in dark[25:])  # 0.5 s blank
    reference = np.asarray(typography_frame("Explain how to bake bread.").convert("L"))
    assert np.abs(frames[12].astype(int) - reference.astype(int)).mean() < 3  # the typography frame, lossy-coded
    data = r.path.read_bytes()
    r.path.unlink()
    assert render_typography_video("Explain how to bake bread.", tmp_path).path.read_bytes() == data
    assert VideoParams().n_frames == 30 and VideoParams().to_dict()["seconds"] == 3.0
    from harness.media_io import load_video, validate_media

    assert validate_media("video", str(r.path)) is None
    clip = load_video(r.path)  # what the Qwen backends feed the processor: 2 fps -> 6 frames of 3 s
    assert clip.total_frames == 30 and len(clip.frame_indices) == 6
