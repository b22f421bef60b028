"""What an image source names, checked without opening an image or loading torch: so that
``multisc run --images`` with a folder that does not exist is refused before any work."""

from __future__ import annotations

from pathlib import Path

from multisc.errors import InvalidInputError

#: the sources that are a prefix and a folder
FOLDER_SOURCES = ("kodak24:", "voc2012:")


def check_source(source: str | Path) -> None:
    """Refuse a source that names nothing: not ``samples``, not ``kodak24:DIR`` or
    ``voc2012:DIR`` with an existing folder, not an existing folder or file, and not a glob
    (what a glob matches, and what a folder holds, is for the reader to say)."""
    text = str(source)
    if text == "samples":
        return
    for prefix in FOLDER_SOURCES:
        if text.startswith(prefix):
            folder = Path(text[len(prefix) :])
            if not folder.is_dir():
                raise InvalidInputError(f"image source {text!r}: {folder} is not a folder")
            return
    if any(ch in text for ch in "*?["):
        return
    path = Path(text)
    if not (path.is_dir() or path.is_file()):
        raise InvalidInputError(
            f"image source {text!r} is neither 'samples', an existing folder, a file nor a glob"
        )
