"""The deep JSCC checkpoints that ship, and how a budget picks among them."""

import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from multisc.channel import ChannelSpec
from multisc.codecs.jscc import DeepJSCC, JSCCConfig, load_checkpoint, read_training
from multisc.codecs.jscc_eval import evaluate_jscc
from multisc.codecs.jscc_shipped import SHIPPED_DIR, directory_name, shipped, shipped_configs
from multisc.data.sources import TRAINING_PHOTOS, sample_photos
from multisc.errors import BudgetTooSmallError
from multisc.imaging import to_tensor
from multisc.metrics import psnr
from multisc.schemes.deep_jscc import DeepJsccScheme


def test_every_shipped_checkpoint_is_there_with_its_record():
    assert len(shipped_configs()) == 8
    for config in shipped_configs():
        directory = SHIPPED_DIR / directory_name(config)
        assert load_checkpoint(directory).config == config
        record = read_training(directory)
        assert record["recipe"] >= 2 and record["steps"] == record["done"] >= 2000
        assert all(name in record["data"] for name in TRAINING_PHOTOS)
        assert set(record["psnr_db"]) == {f"{s}" for s in range(0, 21, 2)}
    ratios = ("1/6", "1/12", "1/24", "1/48")
    assert [p.name for p in shipped("rayleigh")] == [
        directory_name(JSCCConfig(r, (0.0, 20.0), "rayleigh")) for r in ratios
    ]
    assert shipped("awgn", 19.0) == []  # the paper's single SNR is trained on first use


def test_a_shipped_checkpoint_reaches_the_psnr_it_records():
    """Re-evaluating gives the recorded number: the record is what the file does."""
    (directory,) = shipped("awgn", ratios=("1/24",))
    row = evaluate_jscc(directory, sample_photos(), [10.0], seed=0)[0]
    assert row["psnr_db"] == pytest.approx(read_training(directory)["psnr_db"]["10"], abs=0.01)


def test_the_main_jobs_budget_beats_the_old_deep_jscc_figure():
    """At k/n = 1/24 over the paper's SNRs, the shipped set must beat 21.93 dB (the figure
    of a 1/6 model sent at a quarter of the area) on the sample photos."""
    models = [load_checkpoint(d) for d in shipped("awgn")]
    scheme = DeepJsccScheme(models, Fraction(1, 24))
    values = []
    for _, image in sample_photos():
        prepared = scheme.prepare(image)
        width, height = prepared.send_size
        assert prepared.ratio == "1/24" and width * height >= 0.99 * image.width * image.height
        specs = [ChannelSpec(float(s)) for s in range(0, 19, 3)]
        for result in scheme.transmit(prepared, specs, torch.Generator().manual_seed(0)):
            values.append(float(psnr(to_tensor(image)[None], to_tensor(result.image)[None])[0]))
    assert np.mean(values) > 22.5


@pytest.fixture(scope="module")
def ladder():
    """Untrained models of four ratios: enough to test which one a budget picks."""
    return DeepJsccScheme([DeepJSCC(JSCCConfig(r, 10.0)) for r in ("1/48", "1/6", "1/24", "1/12")])


@pytest.mark.parametrize(
    ("budget", "ratio"),
    [
        (Fraction(1, 6), "1/6"),
        (Fraction(1, 10), "1/12"),
        (Fraction(1, 24), "1/24"),
        (Fraction(1, 30), "1/48"),
    ],
)
def test_a_budget_picks_the_highest_ratio_that_fits_the_whole_image(ladder, budget, ratio):
    ladder.budget = budget
    image = sample_photos()[1][1]  # chelsea, 451x300: the model pads it to 452x300
    prepared = ladder.prepare(image)
    width, height = prepared.send_size
    assert prepared.ratio == ratio
    assert prepared.channel_uses == Fraction(ratio) * math.ceil(width / 4) * 4 * height * 3
    assert prepared.channel_uses <= math.floor(budget * 451 * 300 * 3)
    # the whole image, or a few columns less where the padding would overshoot the budget
    assert width * height >= 0.98 * 451 * 300


def test_padding_does_not_push_an_image_down_a_ratio(ladder):
    ladder.budget = Fraction(1, 24)  # 16,912 uses; 1/24 of the padded 452x300 needs 16,950
    prepared = ladder.prepare(sample_photos()[1][1])
    assert prepared.ratio == "1/24" and prepared.send_size == (448, 300)


def test_below_the_lowest_ratio_the_image_is_sent_smaller(ladder):
    image = sample_photos()[1][1]
    uses = 451 * 300 * 3 // 100
    ladder.budget = uses
    prepared = ladder.prepare(image)
    assert prepared.ratio == "1/48" and prepared.send_size < image.size
    assert 0.99 * uses <= prepared.channel_uses <= uses
    (result,) = ladder.transmit(prepared, [ChannelSpec(10.0)], torch.Generator().manual_seed(0))
    assert result.image.size == image.size and result.channel_uses == prepared.channel_uses


def test_a_budget_no_checkpoint_can_meet_is_one_clear_error():
    scheme = DeepJsccScheme(DeepJSCC(JSCCConfig("1/6", 10.0)), budget=5)
    with pytest.raises(BudgetTooSmallError, match=r"budget of 5 channel uses.*4x4.*takes 8"):
        scheme.prepare(sample_photos()[0][1])
