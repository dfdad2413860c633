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
