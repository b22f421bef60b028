"""Set-level metrics of a report, per scheme (variant), channel and SNR over all images and
seeds of the set: FID and KID as torch-fidelity computes them
([multisc.metrics.distribution][]), and corpus BLEU of the block texts (sacrebleu's and
NLTK's), which pools n-gram counts over the set instead of averaging sentence scores."""

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


def _texts(items: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """The (sent, corrected) block texts of a set's rows, pair by pair."""
    sent, corrected = [], []
    for row in items:
        a, b = row.get("texts_sent") or [], row.get("texts_corrected") or []
        if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            sent += [str(t) for t in a]
            corrected += [str(t) for t in b]
    return sent, corrected


def set_metrics(
    rows: list[dict[str, Any]],
    read_pair: PairReader,
    models_dir: str | Path | None = None,
    device: str = "auto",
) -> dict[str, Any]:
    """``{"sets": [...], "skipped": reason or None, "fid_features": ..., ...}``: per
    (``scheme``, ``fading``, SNR), ``images`` (reconstructions read: images x seeds),
    ``references`` (the real set: each reference image once, however many seeds), ``fid``,
    ``kid``, ``kid_std``
    (the standard deviation of KID over its subsets), ``kid_subset_size``, ``texts`` (block
    texts), ``corpus_bleu`` (sacrebleu, 0-100), ``corpus_bleu4_nltk`` (0-1) and a ``note``
    when the set is too small for FID to mean much. One Inception pass per image file."""
    from multisc.devices import resolve_device
    from multisc.metrics.distribution import (
        FEATURE_EXTRACTOR,
        FID_MIN_IMAGES,
        KID_SUBSETS,
        InceptionFeatures,
        fid,
        kid,
        kid_subset_size,
    )
    from multisc.metrics.text import corpus_bleu, nltk_corpus_bleu

    skipped = None
    try:
        network = InceptionFeatures(resolve_device(device), models_dir)
    except ModelNotAvailableError as exc:
        network, skipped = None, f"FID and KID were not computed: {exc}"
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
        sent, corrected = _texts(items)
        entry: dict[str, Any] = {
            "scheme": scheme,
            "channel": channel,
            "snr_db": snr,
            "images": 0,
            "fid": None,
            "kid": None,
            "kid_std": None,
            "kid_subset_size": None,
            "texts": len(sent),
            "corpus_bleu": corpus_bleu(sent, corrected),
            "corpus_bleu4_nltk": nltk_corpus_bleu(sent, corrected),
            "note": "",
        }
        out.append(entry)
        if network is None:
            continue
        real, fake = {}, []  # the references once each, whatever the seeds: the real set
        for row in items:
            try:
                pair = read_pair(row)
            except (OSError, InvalidInputError):
                pair = None
            if pair is None:
                continue
            run = str(row.get("run", ""))
            key = (run, f"ref:{row['image_id']}")
            real.setdefault(key, features(key, pair[0]))
            fake.append(features((run, str(row["image_path"])), pair[1]))
        n = len(fake)
        references = np.array(list(real.values()))
        kid_value = kid(references, np.array(fake)) if n else None
        entry.update(
            images=n,
            references=len(real),
            fid=fid(references, np.array(fake)) if n else None,
            kid=None if kid_value is None else kid_value[0],
            kid_std=None if kid_value is None else kid_value[1],
            kid_subset_size=(kid_subset_size(min(len(real), n)) if kid_value is not None else None),
        )
        if n < 2:
            entry["note"] = "fewer than 2 images: no FID or KID"
        elif n < FID_MIN_IMAGES:
            entry["note"] = f"{n} images: FID needs a few hundred to mean much; read KID"
    return {
        "sets": out,
        "skipped": skipped,
        "fid_features": FEATURE_EXTRACTOR,
        "kid_subsets": KID_SUBSETS,
    }
