"""DISTS per image, FID and KID per set: the torchmetrics implementations on the real
networks' files (stand-ins in the real format here), and the report's set-level table."""

import numpy as np
import pytest
import torch
from PIL import Image

from multisc.data.sources import sample_photos
from multisc.errors import ModelNotAvailableError
from multisc.imaging import to_tensor
from multisc.metrics.distribution import FEATURES, InceptionFeatures, fid, kid
from multisc.models import REGISTRY
from multisc.report.sets import set_metrics
from multisc.testing.torch_hub import write_torch_hub_file


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """``--models DIR`` holding DISTS' VGG16 and FID's Inception stand-ins (random values,
    the real files' keys, dtype, container and size)."""
    root = tmp_path_factory.mktemp("perceptual")
    for name in ("dists", "inception"):
        write_torch_hub_file(name, root / name / REGISTRY[name].repo_id)
    return root


@pytest.fixture(scope="module")
def photos():
    return [image.resize((96, 64)) for _, image in sample_photos()]


@pytest.mark.slow
def test_fid_and_kid_measure_a_known_shift():
    real = np.random.default_rng(0).normal(size=(300, FEATURES))
    shift = np.zeros(FEATURES)
    shift[:4] = [3.0, -2.0, 1.0, 0.5]  # |shift|^2 = 14.25
    # 300 images, 2048 features: a singular covariance; torchmetrics' square root of it is
    # good to ~1e-7 of the trace (4096 here)
    assert fid(real, real) == pytest.approx(0.0, abs=1e-3)
    # same covariance, means apart by `shift`: FID is |shift|^2
    assert fid(real, real + shift) == pytest.approx(14.25, abs=1e-3)
    # KID is unbiased: about 0 (either sign) within its standard error between two draws
    # of one distribution, clearly above it between two distributions
    other = np.random.default_rng(1).normal(size=(300, FEATURES))
    same, moved = kid(real, other), kid(real, other + 4 * shift)
    assert abs(same[0]) < 3 * same[1] and moved[0] > 10 * moved[1] > 0
    assert kid(real, other + 4 * shift) == moved  # its random subsets are seeded
    assert fid(real[:1], real[:1]) is None and kid(real[:1], real[:1]) is None


@pytest.mark.slow
def test_dists_is_zero_on_a_copy_and_batched_equals_pairwise(weights, photos):
    from multisc.metrics.image import DISTS

    dists = DISTS("cpu", weights)
    a = torch.stack([to_tensor(p) for p in photos])
    b = a.flip(0)
    batched = dists(a, b)
    assert torch.allclose(dists(a, a), torch.zeros(len(photos)), atol=1e-6)
    pairwise = torch.cat([dists(a[i : i + 1], b[i : i + 1]) for i in range(len(photos))])
    assert torch.allclose(batched, pairwise, atol=1e-6)
    middle = len(photos) // 2  # the flipped batch pairs the middle photo with itself
    assert batched[middle] == pytest.approx(0.0, abs=1e-6)
    assert (batched[:middle] > 0).all()


def test_inception_features_come_from_the_file_and_tell_images_apart(weights, photos):
    first = InceptionFeatures("cpu", weights)(photos)
    again = InceptionFeatures("cpu", weights)(photos)
    assert first.shape == (len(photos), FEATURES) and np.array_equal(first, again)
    assert not np.array_equal(first[0], first[1])


def test_missing_weights_skip_fid_and_kid_with_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("MULTISC_TORCH_MODELS_URL", "http://127.0.0.1:9/models/")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    with pytest.raises(ModelNotAvailableError):
        InceptionFeatures("cpu", tmp_path / "models")
    result = set_metrics([], lambda row: None, tmp_path / "models", device="cpu")
    assert result["sets"] == [] and "FID and KID were not computed" in result["skipped"]
    assert "\n" not in result["skipped"]


@pytest.mark.slow
def test_set_metrics_per_scheme_and_snr_with_a_small_set_note(weights, photos):
    rows, images = [], {}
    for scheme in ("a", "b"):
        for k, photo in enumerate(photos):
            noisy = photo if scheme == "a" else Image.effect_noise(photo.size, 80).convert("RGB")
            path = f"{scheme}/{k}.png"
            images[path], images[f"ref{k}"] = noisy, photo
            rows.append(
                {"scheme": scheme, "fading": "awgn", "snr_db": 6.0, "image_id": f"ref{k}",
                 "image_path": path}
            )  # fmt: skip
    result = set_metrics(
        rows, lambda r: (images[r["image_id"]], images[r["image_path"]]), weights, "cpu"
    )
    sets = {s["scheme"]: s for s in result["sets"]}
    assert result["skipped"] is None and sets["a"]["images"] == len(photos)
    assert sets["a"]["fid"] == pytest.approx(0.0, abs=1e-6)
    assert sets["a"]["kid"] == pytest.approx(0.0, abs=1e-12)
    assert sets["b"]["fid"] > 0 and "few hundred" in sets["b"]["note"]
