import numpy as np
import pytest
import sacrebleu
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from multisc.codecs import hevc
from multisc.data.sources import sample_photos
from multisc.errors import ModelNotAvailableError
from multisc.imaging import to_tensor
from multisc.metrics import LPIPS, ClipImageCosine, ImageMetrics, TextMetrics, bleu, psnr, ssim
from multisc.testing import build_clip


@pytest.fixture(scope="module")
def pairs():
    photos = [image for _, image in sample_photos()]
    return photos, [hevc.decode(hevc.encode(image, 15), isolate=False) for image in photos]


@pytest.fixture(scope="module")
def text_metrics():
    return TextMetrics()


def test_psnr_and_ssim_equal_scikit_image(pairs):
    for reference, reconstruction in zip(*pairs, strict=True):
        a = np.asarray(reference) / 255.0
        b = np.asarray(reconstruction) / 255.0
        ours_psnr = float(psnr(to_tensor(reference)[None], to_tensor(reconstruction)[None])[0])
        ours_ssim = float(ssim(to_tensor(reference)[None], to_tensor(reconstruction)[None])[0])
        assert ours_psnr == pytest.approx(peak_signal_noise_ratio(a, b, data_range=1.0), abs=1e-3)
        reference_ssim = structural_similarity(
            a,
            b,
            data_range=1.0,
            channel_axis=-1,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
        assert ours_ssim == pytest.approx(reference_ssim, abs=1e-3)


def test_batched_compute_resizes_and_converts(pairs):
    photos, recs = pairs
    metrics = ImageMetrics(("psnr", "ssim", "lpips"), lpips_backbone="random")
    smaller = recs[0].resize((recs[0].width // 2, recs[0].height // 2))
    result = metrics.compute(
        [photos[0], photos[1].convert("L"), photos[2]], [smaller, recs[1].convert("RGBA"), recs[2]]
    )
    assert set(result) == {"psnr", "ssim", "lpips"} and all(len(v) == 3 for v in result.values())
    single = metrics.compute([photos[2]], [recs[2]])
    assert result["psnr"][2] == pytest.approx(single["psnr"][0])
    assert result["psnr"][0] < single["psnr"][0] + 10  # resized, still a real number
    identical = metrics.compute([photos[0]], [photos[0]])
    assert identical["lpips"][0] == pytest.approx(0.0, abs=1e-6)
    assert identical["ssim"][0] == pytest.approx(1.0, abs=1e-6)


def test_lpips_of_image_with_itself_is_zero_and_grows_with_damage(pairs):
    photos, _ = pairs
    lpips = LPIPS(backbone="random")
    x = to_tensor(photos[0])[None]
    noisy = (x + 0.2 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    values = lpips(torch.cat([x, x]), torch.cat([x, noisy]))
    assert float(values[0]) == pytest.approx(0.0, abs=1e-7) and float(values[1]) > 0


def test_lpips_without_alexnet_weights_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))  # restored after
    with pytest.raises(ModelNotAvailableError, match=r"alexnet-owt-7be5be79\.pth"):
        LPIPS()


def test_clip_cosine_with_tiny_clip_through_the_registry_path(tmp_path, pairs):
    photos, recs = pairs
    build_clip(tmp_path / "clip")
    clip = ClipImageCosine(models_dir=tmp_path)
    a = to_tensor(photos[0])[None]
    b = to_tensor(recs[1].resize(photos[0].size))[None]
    values = clip(torch.cat([a, a]), torch.cat([a, b]))
    assert float(values[0]) == pytest.approx(1.0, abs=1e-5)
    assert -1.0 <= float(values[1]) < 1.0
    metrics = ImageMetrics(("clip_cosine",), models_dir=tmp_path)
    assert metrics.compute([photos[0]], [photos[0]])["clip_cosine"][0] == pytest.approx(
        1.0, abs=1e-5
    )


def test_clip_missing_weights_is_one_clear_error(tmp_path):
    with pytest.raises(ModelNotAvailableError, match="multisc models pull clip"):
        ClipImageCosine(models_dir=tmp_path)


def test_bleu_equals_sacrebleu_and_is_100_for_identical_strings():
    pairs = [
        ("a dog runs on the grass", "a dgo runs on teh grass"),
        ("two people ride bicycles along a city street", "two people ride bicycles on a street"),
        ("a red car", "a blue bus parked near the station"),
    ]
    for reference, hypothesis in pairs:
        assert bleu(reference, hypothesis) == pytest.approx(
            sacrebleu.sentence_bleu(hypothesis, [reference]).score
        )
    assert bleu("a dog runs on the grass", "a dog runs on the grass") == pytest.approx(100.0)


def test_text_similarity_orders_meaning(text_metrics):
    result = text_metrics.compute(
        ["a dog runs on the grass"] * 3,
        ["a dog runs on the grass", "a dgo runs on teh grass", "a red car parked on a street"],
    )
    same, misspelled, other = result["text_similarity"]
    assert same == pytest.approx(1.0, abs=1e-5)
    assert misspelled > other
    assert result["bleu"][0] == pytest.approx(100.0)


def _corrupted_captions(n: int = 20, rate: float = 0.06) -> tuple[list[str], list[str]]:
    """``n`` captions and copies with a share ``rate`` of their letters replaced (seeded),
    as bit errors misspell them."""
    import random

    from multisc.testing.corpus import synthetic_captions

    rng = random.Random(0)
    references = [c.capitalize() + "." for c in synthetic_captions(n)]
    letters = "abcdefghijklmnopqrstuvwxyz"
    hypotheses = [
        "".join(rng.choice(letters) if ch.isalpha() and rng.random() < rate else ch for ch in c)
        for c in references
    ]
    return references, hypotheses


def test_nltk_bleu_n_equals_nltk_sentence_bleu_in_its_stated_convention():
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    from multisc.metrics import nltk_bleu

    references, hypotheses = _corrupted_captions()
    smoothing = SmoothingFunction().method1
    for order in (1, 2, 3, 4):
        for reference, hypothesis in zip(references, hypotheses, strict=True):
            expected = sentence_bleu(
                [reference.split()], hypothesis.split(), weights=(1 / order,) * order,
                smoothing_function=smoothing,
            )  # fmt: skip
            assert nltk_bleu(reference, hypothesis, order) == pytest.approx(expected, abs=1e-12)
    assert nltk_bleu("a dog runs on the grass", "a dog runs on the grass", 4) == pytest.approx(1.0)
    assert nltk_bleu("a dog runs", "", 4) == 0.0


def test_corpus_bleus_equal_their_packages_and_the_conventions_really_differ():
    from nltk.translate.bleu_score import SmoothingFunction, corpus_bleu

    from multisc.metrics import corpus_bleu as ours_sacre
    from multisc.metrics import nltk_corpus_bleu

    references, hypotheses = _corrupted_captions()
    assert ours_sacre(references, hypotheses) == pytest.approx(
        sacrebleu.corpus_bleu(hypotheses, [references]).score, abs=1e-9
    )
    expected = corpus_bleu(
        [[r.split()] for r in references], [h.split() for h in hypotheses],
        smoothing_function=SmoothingFunction().method1,
    )  # fmt: skip
    assert nltk_corpus_bleu(references, hypotheses) == pytest.approx(expected, abs=1e-12)
    assert ours_sacre([], []) is None and nltk_corpus_bleu([], []) is None
    # the same 20 captions, three conventions, numbers far apart: names keep them apart
    texts = TextMetrics(["bleu", "bleu1", "bleu4"]).compute(references, hypotheses)
    sacre = sum(texts["bleu"]) / len(references) / 100
    one, four = (sum(texts[m]) / len(references) for m in ("bleu1", "bleu4"))
    assert one - four > 0.1 and abs(sacre - four) > 0.05


def test_text_metrics_compute_every_bleu_order_per_pair():
    references, hypotheses = _corrupted_captions(4)
    result = TextMetrics(["bleu1", "bleu2", "bleu3", "bleu4"]).compute(references, hypotheses)
    assert set(result) == {"bleu1", "bleu2", "bleu3", "bleu4"}
    for k in range(4):  # cumulative BLEU-n falls with n on misspelt text
        assert result["bleu1"][k] >= result["bleu2"][k] >= result["bleu3"][k] >= result["bleu4"][k]


def test_corpus_bleu_smooths_exponentially_as_its_docs_say():
    """No matching 4-gram: sacrebleu's default (exponential) smoothing gives 12.606, where
    smooth_method="none" gives 0: the report's corpus BLEU is the former, as stated."""
    from sacrebleu.metrics import BLEU

    from multisc.metrics.text import corpus_bleu

    hypotheses = ["a red bus on the street", "two dogs in a park"]
    references = ["a red car on a street", "two cats in the park"]
    score = corpus_bleu(references, hypotheses)
    assert score == pytest.approx(BLEU(smooth_method="exp").corpus_score(
        hypotheses, [references]).score)  # fmt: skip
    assert score == pytest.approx(12.606, abs=1e-3)
    assert BLEU(smooth_method="none").corpus_score(hypotheses, [references]).score == 0.0
