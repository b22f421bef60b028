"""Training records for ``multisc captioner train``: LLaVA's conversation JSON, COCO's
captions JSON and the ``image,caption`` CSV ``captioner eval`` reads, each turned into
[Record][multisc.captioner.train_data.Record]s (an image, or none, and its turns).

Every record is checked before training starts; a bad one (its image missing or not
decodable, no ``<image>`` where it has an image, an empty answer, a shape that is not a
record) is reported with its number (0-based, in file order) and kind, then skipped or
refused as ``on_bad`` says: never silently. A data file may come from anyone: it is read
with a size bound, JSON as data (``multisc.untrusted``), images through
``multisc.imaging.open_image_file`` (pixels bounded) and only under
``image_root`` (no ``..``, no absolute path, no link).
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from multisc.captioner.references import read_text_file
from multisc.errors import InvalidInputError

#: the largest data file read (LLaVA's 665k-conversation mix is about 1 GB)
MAX_DATA_BYTES = 2 << 30
#: the placeholder LLaVA's data puts where the image goes
IMAGE_MARK = "<image>"
#: what to do with a bad record
ON_BAD = ("skip", "refuse")
#: the kinds of bad record, as reported
BAD_KINDS = ("not a record", "missing image", "undecodable image", "no <image> token",
             "empty answer")  # fmt: skip


@dataclass(frozen=True)
class Record:
    """One training example: ``image`` (a file under the image root, or ``None`` for a
    text-only record) and its turns, ``(role, text)`` with role ``human`` or ``gpt``
    alternating from ``human``; the first human turn of an image record holds ``<image>``."""

    number: int
    image: Path | None
    turns: tuple[tuple[str, str], ...]


@dataclass
class Records:
    """The records kept, the bad ones reported (``(number, kind, detail)``) and a digest of
    the file's bytes (recorded with the trained captioner)."""

    kept: list[Record]
    bad: list[tuple[int, str, str]] = field(default_factory=list)
    digest: str = ""

    def report(self) -> list[str]:
        """One line per bad record."""
        return [f"record {n}: {kind} ({detail})" for n, kind, detail in self.bad]


def read_records(
    path: str | Path, image_root: str | Path | None = None, prompt: str | None = None,
    on_bad: str = "skip",
) -> Records:  # fmt: skip
    """The records of ``path``: ``.json`` (LLaVA conversations, or COCO captions) or
    ``.csv`` (``image,caption``); COCO and CSV captions become one turn each with
    ``prompt`` (default: the paper's). Images are looked up under ``image_root`` (default:
    the data file's folder).

    :raises InvalidInputError: the file is not one of these, or has no usable record, or
        ``on_bad="refuse"`` and a record is bad (every bad record named).
    """
    from multisc.transmitter.captioning import PAPER_PROMPT

    if on_bad not in ON_BAD:
        raise InvalidInputError(f"--on-bad-record must be skip or refuse, got {on_bad!r}")
    path = Path(path)
    data, text = read_text_file(path, MAX_DATA_BYTES, "training data")
    root = Path(image_root) if image_root is not None else path.parent
    raw = _raw_records(text, path, prompt or PAPER_PROMPT)
    records = Records([], digest=hashlib.sha256(data).hexdigest())
    for number, item in enumerate(raw):
        try:
            records.kept.append(_record(number, item, root))
        except _Bad as bad:
            records.bad.append((number, bad.kind, bad.detail))
    if records.bad and on_bad == "refuse":
        raise InvalidInputError(
            f"training data {path}: {len(records.bad)} bad record(s), refused "
            "(--on-bad-record skip leaves them out): " + "; ".join(records.report()[:20])
        )
    if not records.kept:
        raise InvalidInputError(
            f"training data {path}: no usable record ("
            + ("; ".join(records.report()[:5]) or "the file holds none")
            + ")"
        )
    return records


class _Bad(Exception):
    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(kind)
        self.kind, self.detail = kind, detail


def _raw_records(text: str, path: Path, prompt: str) -> list[Any]:
    """The file's records as LLaVA-style dictionaries (anything, to be checked)."""
    from multisc.untrusted import json_loads

    suffix = path.suffix.lower()
    if suffix == ".csv":
        try:
            rows = list(csv.DictReader(io.StringIO(text)))
        except csv.Error as exc:  # a field past csv's limit, a stray quote
            raise InvalidInputError(f"training data {path}: not a CSV this reads ({exc})") from None
        if rows and not {"image", "caption"} <= set(rows[0]):
            raise InvalidInputError(f"training data {path}: a CSV needs image,caption columns")
        return [_single_turn(row.get("image"), row.get("caption"), prompt) for row in rows]
    if suffix != ".json":
        raise InvalidInputError(
            f"training data {path}: give LLaVA conversation .json, COCO captions .json or "
            "an image,caption .csv"
        )
    try:
        loaded = json_loads(text)
    except ValueError as exc:
        raise InvalidInputError(f"training data {path}: not JSON ({exc})") from None
    if isinstance(loaded, dict) and "annotations" in loaded and "images" in loaded:
        try:  # COCO captions: one record per caption
            files = {item["id"]: str(item["file_name"]) for item in loaded["images"]}
            return [
                _single_turn(files.get(a.get("image_id")), a.get("caption"), prompt)
                for a in loaded["annotations"]
            ]
        except (KeyError, TypeError, AttributeError) as exc:
            raise InvalidInputError(f"training data {path}: not COCO captions ({exc})") from None
    if not isinstance(loaded, list):
        raise InvalidInputError(
            f"training data {path}: LLaVA data is a list of records with conversations"
        )
    return loaded


def _single_turn(image: Any, caption: Any, prompt: str) -> dict[str, Any]:
    return {
        "image": image,
        "conversations": [
            {"from": "human", "value": f"{IMAGE_MARK}\n{prompt}"},
            {"from": "gpt", "value": caption},
        ],
    }


def _image_path(root: Path, name: Any) -> Path:
    """``root/name``, refusing what would leave ``root`` (absolute, ``..``, a link)."""
    if not isinstance(name, str) or not name.strip():
        raise _Bad("not a record", "image is not a file name")
    relative = Path(name)
    if relative.is_absolute() or ".." in relative.parts:
        raise _Bad("missing image", f"{name!r} is outside the image root")
    path = root / relative
    if path.is_symlink() or not path.is_file():
        raise _Bad("missing image", f"{path} is not a regular file")
    return path


def _record(number: int, item: Any, root: Path) -> Record:
    if not isinstance(item, dict) or not isinstance(item.get("conversations"), list):
        raise _Bad("not a record", "no conversations list")
    turns = []
    for turn in item["conversations"]:
        if not isinstance(turn, dict) or turn.get("from") not in ("human", "gpt"):
            raise _Bad("not a record", "a turn is not {from: human|gpt, value}")
        value = turn.get("value")
        turns.append((turn["from"], value if isinstance(value, str) else ""))
    roles = [role for role, _ in turns]
    if not turns or roles != ["human", "gpt"] * (len(turns) // 2) or len(turns) % 2:
        raise _Bad("not a record", "turns must alternate human, gpt")
    if any(not text.strip() for role, text in turns if role == "gpt"):
        raise _Bad("empty answer", "an assistant turn is empty")
    image = None
    if item.get("image") is not None:
        image = _image_path(root, item["image"])
        if IMAGE_MARK not in turns[0][1]:
            raise _Bad("no <image> token", "its first human turn has no <image>")
        try:
            from multisc.imaging import open_image_file

            open_image_file(image).load()
        except Exception as exc:  # PIL raises many types for a damaged file
            raise _Bad("undecodable image", f"{image.name}: {type(exc).__name__}") from None
    elif any(IMAGE_MARK in text for _, text in turns):
        raise _Bad("missing image", "<image> in a record without an image")
    return Record(number, image, tuple(turns))
