"""``multisc segmenter eval``: mIoU and pixel accuracy as torchvision's reference script
computes them (one confusion matrix over the set, 255 ignored), equal to a hand count and
to torchmetrics' multiclass Jaccard on the same masks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from multisc.errors import InvalidInputError
from multisc.metrics.segmentation import ConfusionMatrix
from multisc.segmenter.evaluate import evaluate_segmenters, mask_pairs


def _masks(seed: int, count: int, shape=(40, 50)) -> list[tuple[np.ndarray, np.ndarray]]:
    """Targets with VOC's 255 borders and predictions that are right 70% of the time."""
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(count):
        target = rng.choice([0, 3, 7, 15], size=shape).astype(np.uint8)
        target[::9] = 255
        wrong = rng.random(shape) > 0.7
        prediction = np.where(wrong, rng.choice([0, 3, 8, 15], size=shape), target)
        prediction[target == 255] = rng.integers(0, 21, size=int((target == 255).sum()))
        pairs.append((target, prediction.astype(np.uint8)))
    return pairs


def test_the_scores_equal_a_hand_count_of_the_confusion_matrix():
    target = np.array([[0, 0, 1, 1], [2, 2, 255, 1]])
    prediction = np.array([[0, 1, 1, 1], [2, 0, 2, 1]])
    matrix = ConfusionMatrix(3)
    matrix.update(target, prediction)
    # rows: target, columns: prediction; (1, 2) at 255 is not counted
    assert matrix.matrix.tolist() == [[1, 1, 0], [0, 3, 0], [1, 0, 1]]
    scores = matrix.scores()
    assert scores.pixels == 7 and scores.pixel_accuracy == pytest.approx(100 * 5 / 7)
    iou = [1 / (2 + 2 - 1), 3 / (3 + 4 - 3), 1 / (2 + 1 - 1)]
    assert scores.iou == pytest.approx([100 * v for v in iou])
    assert scores.miou == pytest.approx(100 * sum(iou) / 3) and scores.classes == 3


def test_the_scores_equal_torchmetrics_multiclass_jaccard_and_accuracy():
    """Over several images, classes that never occur left out: torchmetrics' macro
    average with ignore_index 255 (21 classes), and its micro accuracy."""
    from torchmetrics.classification import MulticlassAccuracy, MulticlassJaccardIndex

    jaccard = MulticlassJaccardIndex(num_classes=21, ignore_index=255, average="macro")
    accuracy = MulticlassAccuracy(num_classes=21, ignore_index=255, average="micro")
    matrix = ConfusionMatrix(21)
    for target, prediction in _masks(0, 4):
        matrix.update(target, prediction)
        t, p = torch.from_numpy(target).long(), torch.from_numpy(prediction).long()
        jaccard.update(p, t)
        accuracy.update(p, t)
    scores = matrix.scores()
    assert scores.miou == pytest.approx(100 * float(jaccard.compute()), abs=1e-4)
    assert scores.pixel_accuracy == pytest.approx(100 * float(accuracy.compute()), abs=1e-4)
    assert scores.classes == 5  # 0, 3, 7, 8, 15


def _voc(root: Path, photos, classes=(15, 8, 12)) -> Path:
    base = root / "VOCdevkit" / "VOC2012"
    for folder in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (base / folder).mkdir(parents=True, exist_ok=True)
    ids = []
    for (name, image), cls in zip(photos, classes, strict=False):
        image.resize((96, 64)).save(base / "JPEGImages" / f"{name}.jpg")
        mask = np.zeros((64, 96), np.uint8)
        mask[10:40, 20:60] = cls
        mask[9, 20:60] = 255
        palette = Image.fromarray(mask, "P")
        palette.putpalette([0, 0, 0, 128, 0, 0] * 128)
        palette.save(base / "SegmentationClass" / f"{name}.png")
        ids.append(name)
    (base / "ImageSets" / "Segmentation" / "val.txt").write_text("\n".join(ids) + "\n")
    return root


@pytest.fixture(scope="module")
def voc(tmp_path_factory):
    from multisc.data.sources import sample_photos

    return _voc(tmp_path_factory.mktemp("voc"), sample_photos()[:3])


def test_each_segmenter_is_scored_at_torchvisions_resize_beside_its_published_numbers(
    voc, tiny_models
):
    pairs = mask_pairs(f"voc2012:{voc}")
    assert [p[0] for p in pairs] == ["astronaut", "chelsea", "coffee"]
    results = evaluate_segmenters(["fcn_resnet50", "lraspp_mobilenet_v3_large"], pairs,
                                  tiny_models, "cpu", resize=48)  # fmt: skip
    for result in results:
        assert result.images == 3 and result.stand_in
        # 48 x 72 pixels per image, where the resized mask still has 255 left out
        assert 3 * 48 * 72 - 3 * 72 <= result.pixels <= 3 * 48 * 72
        assert 0 <= result.miou <= 100 and 0 <= result.pixel_accuracy <= 100
    assert results[0].published == {
        "miou": 60.5, "pixel_accuracy": 91.4, "set": "COCO val2017, VOC labels",
    }  # fmt: skip
    # the scores are the confusion matrix of the predictions at that size, recomputed
    from multisc.segmenter.evaluate import _resized, read_mask
    from multisc.transmitter.segmenters import make_segmenter

    segmenter, matrix = make_segmenter("fcn_resnet50", tiny_models, "cpu", 48), ConfusionMatrix(21)
    for _, image_path, mask_path in pairs:
        image = Image.open(image_path).convert("RGB")
        image, target = _resized(image, read_mask(mask_path, image.size), 48)
        matrix.update(target, segmenter.class_map(image))
    assert results[0].miou == pytest.approx(matrix.scores().miou)
    assert results[0].pixels == matrix.scores().pixels


def test_the_command_says_json_and_refuses_bad_masks_before_work(
    voc, tiny_models, tmp_path, capsys
):
    from multisc.cli import main

    code = main(["segmenter", "eval", f"voc2012:{voc}", "--models", str(tiny_models),
                 "--resize", "40", "--limit", "2", "--json"])  # fmt: skip
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["images"] == 2 and [r["segmenter"] for r in payload["results"]] == [
        "fcn_resnet50"
    ]
    assert main(["segmenter", "eval", f"voc2012:{voc}", "--segmenters", "deeplab"]) == 2
    assert "unknown segmenter 'deeplab'" in capsys.readouterr().err
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    Image.new("RGB", (20, 10)).save(images / "a.png")
    Image.new("RGB", (20, 10)).save(masks / "a.png")  # a colour picture, not class indices
    with pytest.raises(InvalidInputError, match="not a class mask"):
        evaluate_segmenters(["fcn_resnet50"], mask_pairs(str(images), masks), tiny_models, "cpu")
    Image.new("L", (21, 10)).save(masks / "a.png")
    with pytest.raises(InvalidInputError, match="differ in size"):
        evaluate_segmenters(["fcn_resnet50"], mask_pairs(str(images), masks), tiny_models, "cpu")
    with pytest.raises(InvalidInputError, match="drop --masks"):
        mask_pairs(f"voc2012:{voc}", masks)
    with pytest.raises(InvalidInputError, match="--masks"):
        mask_pairs(str(images))
