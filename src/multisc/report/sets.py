"""Set-level metrics of a report: FID and KID per scheme (variant), channel and SNR, over
all images and seeds of the set (:mod:`multisc.metrics.distribution`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from multisc.errors import InvalidInputError, ModelNotAvailableError

#: (row) -> (reference image, reconstruction), ``None`` where either cannot be read
PairReader = Callable[[dict[str, Any]], tuple[Image.Image, Image.Image] | None]


def set_metrics(
    rows: list[dict[str, Any]],
    read_pair: PairReader,
    models_dir: str | Path | None = None,
    device: str = "auto",
) -> dict[str, Any]:
    """``{"sets": [...], "skipped": reason or None}``: per (``scheme``, ``fading``, SNR),
    ``images`` (pairs read), ``fid``, ``kid``, ``kid_std`` and a ``note`` when the set is
    too small for FID to mean much. One Inception pass per image file."""
    from multisc.devices import resolve_device
    from multisc.metrics.distribution import FID_MIN_IMAGES, InceptionFeatures, fid, kid

    try:
        network = InceptionFeatures(resolve_device(device), models_dir)
    except ModelNotAvailableError as exc:
        return {"sets": [], "skipped": f"FID and KID were not computed: {exc}"}
    groups: dict[tuple[str, str, float], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(row["scheme"], row["fading"], row["snr_db"])].append(row)
    cache: dict[tuple[str, str], Any] = {}

    def features(key: tuple[str, str], image: Image.Image):
        if key not in cache:
            cache[key] = network([image])[0]
        return cache[key]

    out = []
    for (scheme, channel, snr), items in groups.items():
        real, fake = [], []
        for row in items:
            try:
                pair = read_pair(row)
            except (OSError, InvalidInputError):
                pair = None
            if pair is None:
                continue
            run = str(row.get("run", ""))
            real.append(features((run, f"ref:{row['image_id']}"), pair[0]))
            fake.append(features((run, str(row["image_path"])), pair[1]))
        n = len(fake)
        fid_value = fid(np.array(real), np.array(fake)) if n else None
        kid_value = kid(np.array(real), np.array(fake)) if n else None
        note = ""
        if n < 2:
            note = "fewer than 2 images: no FID or KID"
        elif n < FID_MIN_IMAGES:
            note = f"{n} images: FID needs a few hundred to mean much; read KID and its ±"
        out.append(
            {
                "scheme": scheme,
                "channel": channel,
                "snr_db": snr,
                "images": n,
                "fid": fid_value,
                "kid": None if kid_value is None else kid_value[0],
                "kid_std": None if kid_value is None else kid_value[1],
                "note": note,
            }
        )
    return {"sets": out, "skipped": None}
