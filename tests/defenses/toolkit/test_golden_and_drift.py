import numpy as np
import pytest
import torch

from defenses.toolkit.collect import Activations
from defenses.toolkit.crs import auroc, crs, youden_threshold
from defenses.toolkit.directions import cosine, diff_of_means
from defenses.toolkit.drift import apply_variant, estimate_drift
from defenses.toolkit.golden import golden_vector
from harness.records import Sample, user_message


def numpy_golden(rows):
    """Independent computation with numpy: uncentred SVD, sign to the mean, mean-norm scale."""
    x = np.stack(rows).astype(np.float64)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    v = vt[0]
    if v @ x.mean(axis=0) < 0:
        v = -v
    return v * np.linalg.norm(x, axis=1).mean()


def test_golden_matches_numpy_to_1e5():
    g = torch.Generator().manual_seed(0)
    base = torch.randn(64, generator=g)
    vecs = {m: base * s + 0.3 * torch.randn(64, generator=g) for m, s in
            zip(("text", "image", "audio", "video"), (3.0, 2.0, 2.5, 1.5))}
    got = golden_vector(15, vecs)
    ref = numpy_golden([vecs[m].numpy() for m in ("text", "image", "audio", "video")])
    assert np.allclose(got.vector.numpy(), ref, atol=1e-5)
    assert got.modalities == ("text", "image", "audio", "video")
    assert got.norm == pytest.approx(float(np.mean([v.norm() for v in vecs.values()])), rel=1e-6)
    assert cosine(got.vector, base) > 0.95


def test_golden_sign_follows_the_mean_and_is_not_centred():
    v = torch.tensor([1.0, 2.0, 0.0, 0.0])
    vecs = {"text": v, "image": 0.5 * v, "audio": 0.8 * v}
    got = golden_vector(0, vecs)
    assert cosine(got.vector, v) == pytest.approx(1.0, abs=1e-6)  # never the flipped sign
    flipped = golden_vector(0, {k: -x for k, x in vecs.items()})
    assert cosine(flipped.vector, -v) == pytest.approx(1.0, abs=1e-6)
    # Centred PCA of collinear rows would point along their differences; the uncentred SVD keeps the shared
    # direction and its mean-norm scale.
    assert got.norm == pytest.approx(float(np.mean([2.2360679, 1.118034, 1.7888544])), rel=1e-5)
    with pytest.raises(ValueError, match="at least two"):
        golden_vector(0, {"text": v})


def test_drift_variants_decompose():
    g = torch.Generator().manual_seed(1)
    delta, r = torch.randn(32, generator=g), torch.randn(32, generator=g)
    r_hat = r / r.norm()
    orth, par, full = (apply_variant(delta, k, r_hat) for k in ("orth", "par", "full"))
    assert abs(float(orth @ r_hat)) < 1e-5
    assert cosine(par, r_hat) ** 2 == pytest.approx(1.0, abs=1e-5)
    assert torch.allclose(orth + par, full, atol=1e-6)
    with pytest.raises(ValueError):
        apply_variant(delta, "sideways", r_hat)


def _acts(rows):
    samples, states = [], []
    for i, (modality, label, src, vec) in enumerate(rows):
        kw = {} if modality == "text" else {modality: f"/x/{i}.bin"}
        msg = user_message("q" if modality == "text" else None, **kw)
        samples.append(Sample(id=f"s{i}", task="t", config=modality, label=label, source_id=src, messages=(msg,)))
        states.append(torch.tensor(vec, dtype=torch.float32))
    return Activations((0,), "last", samples, {0: torch.stack(states)})


def test_paired_drift_uses_pairs_and_unpaired_uses_means():
    acts = _acts([
        ("text", "harmful", "a", [1.0, 0.0]), ("image", "harmful", "a", [1.0, 2.0]),
        ("text", "benign", "b", [0.0, 0.0]), ("image", "benign", "b", [0.0, 2.0]),
        ("text", "benign", "c", [5.0, 5.0]),  # unpaired: changes the unpaired mean only
    ])
    paired = estimate_drift(acts, 0, "image")
    assert paired.n_pairs == 2 and torch.allclose(paired.vector, torch.tensor([0.0, 2.0]))
    unpaired = estimate_drift(acts, 0, "image", estimator="unpaired")
    assert torch.allclose(unpaired.vector, torch.tensor([0.5, 2.0]) - torch.tensor([2.0, 5.0 / 3]))
    benign = estimate_drift(acts, 0, "image", classes="benign_only")
    assert benign.n_pairs == 1
    d = diff_of_means(acts, 0, modality="text")
    assert torch.allclose(d.raw, torch.tensor([1.0, 0.0]) - torch.tensor([2.5, 2.5]))
    assert float(d.normalised_projection(d.harmful_mean[None])[0]) == pytest.approx(1.0)
    assert float(d.normalised_projection(d.benign_mean[None])[0]) == pytest.approx(0.0)


def test_crs_candidates_on_a_hand_case():
    text_h, text_b = torch.tensor([2.0, 2.0]), torch.tensor([0.0, 0.0])
    # The image distribution is shifted down by 1.5: separation kept, but both classes fall below the text
    # midpoint (tau = 1), which only the threshold-conditional candidate (c) sees.
    img_h, img_b = torch.tensor([0.5, 0.5]), torch.tensor([-1.5, -1.5])
    c = crs(img_h, img_b, text_h, text_b)
    assert c.tau == 1.0 and c.relative_gap == pytest.approx(1.0) and c.auroc == 1.0
    assert c.threshold_conditional == 0.0
    assert auroc(torch.tensor([1.0]), torch.tensor([1.0])) == 0.5
    assert youden_threshold(torch.tensor([3.0, 4.0]), torch.tensor([1.0, 2.0])) == 3.0
