"""Segmentation quality over a whole set as torchvision's reference segmentation script
computes it (``references/segmentation/utils.py``, ``ConfusionMatrix``): one confusion
matrix over every pixel of every image (targets of 255, VOC's border, ignored), then the
global pixel accuracy and the per-class intersection over union, averaged.

torchvision averages the IoU of all classes; a class that neither the targets nor the
predictions of the set contain has no IoU (0/0), and then its mean is ``nan``. Here the mean
is over the classes that occur (as torchmetrics' ``MulticlassJaccardIndex(average="macro")``
does: on a set where every class occurs, torchvision's number), and ``classes`` says how
many that was.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: VOC's "ignore" label (object borders and difficult regions)
IGNORE = 255


@dataclass(frozen=True)
class SegmentationScores:
    """A set's scores.

    :ivar pixel_accuracy: correctly labelled pixels / labelled pixels, in percent.
    :ivar miou: mean IoU over the classes that occur, in percent.
    :ivar iou: each class's IoU in percent (``None`` where it does not occur).
    :ivar classes: how many classes occur (targets or predictions).
    :ivar pixels: labelled pixels counted.
    """

    pixel_accuracy: float
    miou: float
    iou: tuple[float | None, ...]
    classes: int
    pixels: int


class ConfusionMatrix:
    """Counts ``[target, prediction]`` pairs of ``num_classes`` classes over a set.

    Examples:
        >>> import numpy as np
        >>> m = ConfusionMatrix(3)
        >>> m.update(np.array([[0, 1], [2, 255]]), np.array([[0, 1], [1, 0]]))
        >>> m.matrix.tolist()
        [[1, 0, 0], [0, 1, 0], [0, 1, 0]]
        >>> round(m.scores().pixel_accuracy, 2), round(m.scores().miou, 2)
        (66.67, 50.0)
    """

    def __init__(self, num_classes: int) -> None:
        self.num_classes = int(num_classes)
        self.matrix = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)

    def update(self, target: np.ndarray, prediction: np.ndarray) -> None:
        """Add one image: ``target`` and ``prediction`` ``[H, W]`` integer class maps of
        the same shape (targets outside ``[0, num_classes)``, such as 255, ignored)."""
        target, prediction = np.asarray(target), np.asarray(prediction)
        if target.shape != prediction.shape:
            raise ValueError(f"target {target.shape} and prediction {prediction.shape} differ")
        n = self.num_classes
        keep = (target >= 0) & (target < n)
        index = n * target[keep].astype(np.int64) + prediction[keep].astype(np.int64)
        self.matrix += np.bincount(index, minlength=n * n).reshape(n, n)

    def scores(self) -> SegmentationScores:
        """Pixel accuracy and IoU as torchvision's ``ConfusionMatrix.compute`` has them."""
        h = self.matrix.astype(np.float64)
        diag = np.diag(h)
        total = h.sum()
        union = h.sum(1) + h.sum(0) - diag
        with np.errstate(invalid="ignore", divide="ignore"):
            iou = diag / union
        present = union > 0
        return SegmentationScores(
            pixel_accuracy=float(100 * diag.sum() / total) if total else float("nan"),
            miou=float(100 * iou[present].mean()) if present.any() else float("nan"),
            iou=tuple(float(100 * v) if ok else None for v, ok in zip(iou, present, strict=True)),
            classes=int(present.sum()),
            pixels=int(total),
        )
