"""DISTS per image, FID and KID per set: DISTS as torchmetrics computes it, FID and KID as
torch-fidelity does (checked against ``torch_fidelity.calculate_metrics`` itself), on the
real networks' files (stand-ins in the real format here), and the report's set-level table."""

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


def _crops(photos_full, shift: int = 0, side: int = 128) -> list[Image.Image]:
    """Four crops per photo, the window moved ``shift`` pixels to the right."""
    crops = []
    for photo in photos_full:
        width, height = photo.size
        for k in range(4):
            x, y = (k * 37) % (width - side - 12), (k * 53) % (height - side)
            crops.append(photo.crop((x + shift, y, x + shift + side, y + side)))
    return crops


@pytest.fixture(scope="module")
def photos_full():
    return [image for _, image in sample_photos()]


@pytest.mark.parametrize("size", [(64, 96), (128, 128), (299, 299), (333, 500)])
def test_inception_features_equal_torch_fidelitys_at_every_size(weights, photos_full, size):
    """The extractor is torch-fidelity's own: same weights, same image, same features, at
    any input size (torchmetrics' antialiased resize differed by 31-52% off 299 x 299)."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    path = weights / "inception" / REGISTRY["inception"].repo_id
    reference = FeatureExtractorInceptionV3(
        "inception-v3-compat", ["2048"], feature_extractor_weights_path=str(path)
    )
    image = photos_full[0].resize(size)
    pixels = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None]
    (expected,) = reference(pixels)
    ours = InceptionFeatures("cpu", weights)([image])
    assert np.array_equal(ours, expected.numpy())


@pytest.mark.slow
@pytest.mark.long
def test_fid_and_kid_equal_torch_fidelitys_calculate_metrics(weights, photos_full, tmp_path):
    """Two folders of images of two sizes: FID, KID and KID's ± are the numbers
    ``torch_fidelity.calculate_metrics`` gives on the same files and weights."""
    import torch_fidelity

    from multisc.metrics.distribution import kid_subset_size

    folders = {"a": tmp_path / "a", "b": tmp_path / "b"}
    for folder in folders.values():
        folder.mkdir()
    for i, photo in enumerate(photos_full):
        for k, side in enumerate((96, 150)):
            photo.crop((10 * k, 0, 10 * k + side, side)).save(folders["a"] / f"{i}_{k}.png")
            photo.crop((10 * k + 3, 0, 10 * k + 3 + side, side)).save(folders["b"] / f"{i}_{k}.png")
    path = weights / "inception" / REGISTRY["inception"].repo_id
    n = len(photos_full) * 2
    expected = torch_fidelity.calculate_metrics(
        input1=str(folders["a"]), input2=str(folders["b"]), fid=True, kid=True,
        kid_subset_size=kid_subset_size(n), feature_extractor_weights_path=str(path),
        cuda=False, batch_size=1, verbose=False, cache=False, save_cpu_ram=True,
    )  # fmt: skip
    network = InceptionFeatures("cpu", weights)
    names = sorted(p.name for p in folders["a"].iterdir())  # torch-fidelity's order
    a = network([Image.open(folders["a"] / name) for name in names])
    b = network([Image.open(folders["b"] / name) for name in names])
    assert fid(a, b) == pytest.approx(expected["frechet_inception_distance"], rel=1e-9)
    mean, spread = kid(a, b)
    assert mean == pytest.approx(expected["kernel_inception_distance_mean"], rel=1e-9)
    assert spread == pytest.approx(expected["kernel_inception_distance_std"], rel=1e-9)


@pytest.mark.slow
def test_fid_of_a_set_with_itself_is_zero_and_a_3_pixel_shift_is_not(weights, photos_full):
    """The stand-in's features spread as a trained network's do (BatchNorm statistics from
    photos), so FID on images can fail: 0 against itself, clearly above against the same
    crops moved by 3 pixels."""
    network = InceptionFeatures("cpu", weights)
    a = network(_crops(photos_full))
    b = network(_crops(photos_full, shift=3))
    assert 0.05 < float(np.abs(a).mean()) < 50  # not the ~1e-7 of uncalibrated weights
    assert fid(a, a) == pytest.approx(0.0, abs=1e-6)
    assert fid(a, b) > 5.0


@pytest.mark.slow
def test_fid_and_kid_measure_a_known_shift():
    real = np.random.default_rng(0).normal(size=(300, FEATURES))
    shift = np.zeros(FEATURES)
    shift[:4] = [3.0, -2.0, 1.0, 0.5]  # |shift|^2 = 14.25
    # 300 images, 2048 features: a singular covariance; the eigenvalue square root of it
    # is good to ~1e-7 of the trace (4096 here)
    assert fid(real, real) == pytest.approx(0.0, abs=1e-3)
    # same covariance, means apart by `shift`: FID is |shift|^2
    assert fid(real, real + shift) == pytest.approx(14.25, abs=1e-3)
    # KID is unbiased: about 0 (either sign) within its standard error between two draws
    # of one distribution, clearly above it between two distributions
    other = np.random.default_rng(1).normal(size=(300, FEATURES))
    same, moved = kid(real, other), kid(real, other + 4 * shift)
    assert abs(same[0]) < 3 * same[1] and moved[0] > 10 * moved[1] > 0
    assert kid(real, other + 4 * shift) == moved  # its random subsets are seeded (2020)
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
    rows = [{"scheme": "a", "fading": "awgn", "snr_db": 0.0, "image_id": "x", "image_path": "p",
             "texts_sent": ["a red car"], "texts_corrected": ["a red cat"]}]  # fmt: skip
    result = set_metrics(rows, lambda row: None, tmp_path / "models", device="cpu")
    assert "FID and KID were not computed" in result["skipped"]
    assert "\n" not in result["skipped"] and "segmenter" not in result["skipped"]  # only FID's
    # the text part of a set needs no weights
    (only,) = result["sets"]
    assert only["fid"] is None and only["kid"] is None and only["texts"] == 1
    assert only["corpus_bleu"] is not None and only["corpus_bleu4_nltk"] is not None


@pytest.mark.slow
@pytest.mark.long
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
    assert abs(sets["a"]["kid"]) <= 3 * sets["a"]["kid_std"]  # unbiased: about 0
    assert sets["b"]["fid"] > 0 and "few hundred" in sets["b"]["note"]


def test_with_several_seeds_each_reference_counts_once_as_in_torch_fidelity(
    weights, photos_full, tmp_path
):
    """Two seeds per image: FID and KID equal torch-fidelity's on a folder of the unique
    references against a folder of every reconstruction (not the references twice)."""
    import torch_fidelity

    from multisc.metrics.distribution import kid_subset_size

    real, fake = tmp_path / "real", tmp_path / "fake"
    real.mkdir()
    fake.mkdir()
    rows, images = [], {}
    for i, photo in enumerate(photos_full):
        reference = photo.crop((0, 0, 128, 128))
        reference.save(real / f"{i}.png")
        images[f"ref{i}"] = reference
        for seed in (0, 1):
            made = photo.crop((3 + 5 * seed, 0, 131 + 5 * seed, 128))
            made.save(fake / f"{i}_{seed}.png")
            images[f"{i}_{seed}"] = made
            rows.append({"scheme": "a", "fading": "awgn", "snr_db": 6.0, "seed": seed,
                         "image_id": f"ref{i}", "image_path": f"{i}_{seed}"})  # fmt: skip
    n_real, n_fake = len(photos_full), 2 * len(photos_full)
    expected = torch_fidelity.calculate_metrics(
        input1=str(real), input2=str(fake), fid=True, kid=True,
        kid_subset_size=kid_subset_size(min(n_real, n_fake)),
        feature_extractor_weights_path=str(weights / "inception" / REGISTRY["inception"].repo_id),
        cuda=False, batch_size=1, verbose=False, cache=False, save_cpu_ram=True,
    )  # fmt: skip
    (found,) = set_metrics(
        rows, lambda r: (images[r["image_id"]], images[r["image_path"]]), weights, "cpu"
    )["sets"]
    assert found["images"] == n_fake and found["references"] == n_real
    assert found["fid"] == pytest.approx(expected["frechet_inception_distance"], rel=1e-6)
    assert found["kid"] == pytest.approx(expected["kernel_inception_distance_mean"], rel=1e-6)
