"""Reference captions for evaluating captioners: a COCO-format captions JSON, a CSV
(``image,caption`` or ``image,block,caption``), or the ones shipped for the bundled photos.

A reference file may come from anyone: it is read with a size bound, as data (JSON through
`multisc.untrusted`), and a file that is not one of these formats is
one clear error.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from importlib import resources
from pathlib import Path

from multisc.errors import InvalidInputError

#: the largest reference file read (COCO's captions_train2017.json is about 92 MB)
MAX_REFERENCE_BYTES = 256 * 1024 * 1024
#: the shipped references of the bundled photos (``images: samples``)
SAMPLE_REFERENCES = "sample_captions.csv"

#: (image id, block position or "" for the whole image) -> reference captions
References = dict[tuple[str, str], list[str]]


def read_text_file(path: Path, limit: int, what: str) -> tuple[bytes, str]:
    """A data file someone else may have written, as bytes and UTF-8 text: a regular file
    (no link), at most ``limit`` bytes (checked before it is read whole); one clear
    ``InvalidInputError`` naming ``what`` otherwise."""
    if path.is_symlink() or not path.is_file():
        raise InvalidInputError(f"{what} {path}: not a regular file")
    size = path.stat().st_size
    if size > limit:
        raise InvalidInputError(f"{what} {path}: {size:,} bytes, over the {limit:,} read")
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    try:
        return data, data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInputError(f"{what} {path}: not UTF-8 text") from None


def sample_references() -> References:
    """Hand-written reference captions of the bundled photos: two per whole image and one
    per 2x2 block (``top left`` ... ``bottom right``)."""
    text = resources.files("multisc.captioner").joinpath(SAMPLE_REFERENCES).read_text("utf-8")
    return _from_csv(text, SAMPLE_REFERENCES)


def read_references(path: str | Path) -> References:
    """The reference captions in ``path``, keyed by image id (the file's stem, as
    [image_id][multisc.data.sources.image_id] names images) and block.

    - ``.json``: COCO captions (``images`` with ``id`` and ``file_name``, ``annotations``
      with ``image_id`` and ``caption``): whole images.
    - ``.csv``: a header ``image,caption`` (whole images) or ``image,block,caption``
      (``block``: a position such as ``top left``, empty for the whole image).
    """
    path = Path(path)
    _, text = read_text_file(path, MAX_REFERENCE_BYTES, "reference captions")
    suffix = path.suffix.lower()
    if suffix == ".json":
        return _from_coco(text, path)
    if suffix == ".csv":
        return _from_csv(text, str(path))
    raise InvalidInputError(
        f"reference captions {path}: give a COCO captions .json or an image,caption .csv"
    )


def _from_coco(text: str, path: Path) -> References:
    from multisc.untrusted import json_loads

    try:
        data = json_loads(text)
        names = {item["id"]: Path(str(item["file_name"])).stem for item in data["images"]}
        pairs = [(names[a["image_id"]], str(a["caption"])) for a in data["annotations"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInputError(
            f"reference captions {path}: not COCO captions JSON (images with id and "
            f"file_name, annotations with image_id and caption): {type(exc).__name__} {exc}"
        ) from None
    out: References = defaultdict(list)
    for image, caption in pairs:
        if caption.strip():
            out[(image, "")].append(caption.strip())
    return _nonempty(dict(out), str(path))


def _from_csv(text: str, where: str) -> References:
    rows = csv.DictReader(io.StringIO(text))
    try:
        fields = set(rows.fieldnames or [])
    except csv.Error as exc:
        raise InvalidInputError(
            f"reference captions {where}: not a CSV this reads ({exc})"
        ) from None
    if not {"image", "caption"} <= fields:
        raise InvalidInputError(
            f"reference captions {where}: a CSV needs the columns image,caption (and "
            f"optionally block); it has {', '.join(sorted(fields)) or 'none'}"
        )
    out: References = defaultdict(list)
    try:
        for row in rows:
            image = str(row.get("image") or "").strip()
            caption = str(row.get("caption") or "").strip()
            if image and caption:
                out[(Path(image).stem, str(row.get("block") or "").strip())].append(caption)
    except csv.Error as exc:  # a field past csv's limit (131,072 characters), a stray quote
        raise InvalidInputError(
            f"reference captions {where}: not a CSV this reads (line {rows.line_num}: {exc})"
        ) from None
    return _nonempty(dict(out), where)


def _nonempty(references: References, where: str) -> References:
    if not references:
        raise InvalidInputError(f"reference captions {where}: no captions in it")
    return references
