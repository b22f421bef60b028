"""Where images come from: photos bundled in scikit-image, a folder, or a glob."""

from __future__ import annotations

import glob
from collections.abc import Callable, Iterator
from pathlib import Path

from PIL import Image

from multisc.data.names import check_source
from multisc.errors import InvalidInputError
from multisc.imaging import open_image_file, to_rgb

#: Colour photographs that ship inside scikit-image (no download).
SAMPLE_PHOTOS: tuple[str, ...] = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle")
#: Further colour images that ship inside installed packages (scikit-image, and the
#: scikit-learn and matplotlib that multisc's dependencies bring), kept apart from
#: SAMPLE_PHOTOS for training (deep JSCC).
TRAINING_PHOTOS: tuple[str, ...] = (
    "motorcycle_right",
    "retina",
    "immunohistochemistry",
    "hubble_deep_field",
    "china",  # scikit-learn
    "flower",  # scikit-learn
    "grace_hopper",  # matplotlib
)


def _sklearn_photo(name: str):
    from sklearn.datasets import load_sample_image

    return load_sample_image(f"{name}.jpg")


def _matplotlib_photo(name: str):
    from matplotlib import cbook

    with Image.open(cbook.get_sample_data(f"{name}.jpg")) as image:
        image.load()
        return to_rgb(image).copy()


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".gif")


def sample_photos(names: tuple[str, ...] = SAMPLE_PHOTOS) -> list[tuple[str, Image.Image]]:
    """The bundled photos (scikit-image's, and ``TRAINING_PHOTOS``) as
    ``(name, RGB image)``."""
    from skimage import data as skdata

    special = {
        "motorcycle": lambda: skdata.stereo_motorcycle()[0],
        "motorcycle_right": lambda: skdata.stereo_motorcycle()[1],
        "china": lambda: _sklearn_photo("china"),
        "flower": lambda: _sklearn_photo("flower"),
        "grace_hopper": lambda: _matplotlib_photo("grace_hopper"),
    }
    photos = []
    for name in names:
        loader = special.get(name) or getattr(skdata, name, None)
        if loader is None:
            raise InvalidInputError(f"scikit-image bundles no image called {name!r}")
        photos.append((name, to_rgb(loader())))
    return photos


def open_image(path: str | Path) -> Image.Image:
    """Open an image file as 8-bit RGB (EXIF orientation applied, regular files only,
    pixels bounded: ``multisc.imaging.open_image_file``), or one clear error."""
    return open_image_file(path)


#: the most file names a folder or glob source is listed to (a pattern matching a million
#: files is refused after this many, before any is opened)
MAX_MATCHES = 100_000
#: the most images a source gives without ``--limit`` (each is decoded and held)
MAX_FILES = 10_000


def _bounded(paths, what: str) -> list[Path]:
    """The regular files among ``paths``, sorted; refused past ``MAX_MATCHES`` names."""
    found = []
    for count, path in enumerate(paths, start=1):
        if count > MAX_MATCHES:
            raise InvalidInputError(
                f"{what} names more than {MAX_MATCHES:,} files: narrow it (none was opened)"
            )
        if path.is_file():
            found.append(path)
    return sorted(found)


def _folder_files(folder: Path) -> list[Path]:
    return _bounded(
        (p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES),
        f"folder {folder}",
    )


def _limited(files: list[Path], limit: int | None, what: str) -> list[Path]:
    """The first ``limit`` files; without a limit, refused past ``MAX_FILES``."""
    if limit is None and len(files) > MAX_FILES:
        raise InvalidInputError(
            f"{what}: {len(files):,} image files, over the {MAX_FILES:,} read without "
            "--limit: give --limit N (the first N, sorted by name) or split the set"
        )
    return files[:limit]


def image_id(path: str | Path) -> str:
    """The id of an image file, safe as a path component and in HTML: its stem with every
    character outside ``A-Z a-z 0-9 . _ -`` replaced by ``_`` and leading dots dropped (so
    ``...png`` cannot point at a parent folder), cut to ``MAX_ID`` characters, plus a
    short hash of the stem when anything changed (two odd names never share an id).

    >>> image_id("kodim01.png"), image_id('a" onerror="x.png')[:13], image_id("...png")[:6]
    ('kodim01', 'a__onerror__x', 'image-')
    """
    import hashlib
    import re

    stem = Path(path).stem
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", stem).lstrip(".")
    if safe == stem and len(stem) <= MAX_ID:
        return stem
    digest = hashlib.sha256(stem.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    safe = safe[: MAX_ID - 9]  # ids name folders and files: bounded well below NAME_MAX
    return f"{safe}-{digest}" if safe else f"image-{digest}"


#: the longest image id: it names a folder and files (``grids/<id>.png``)
MAX_ID = 120


KODAK_FILES = tuple(f"kodim{i:02d}.png" for i in range(1, 25))


def kodak24_files(folder: str | Path) -> list[Path]:
    """The 24 Kodak images ``kodim01.png`` ... ``kodim24.png`` in ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InvalidInputError(f"Kodak24 folder {folder} does not exist")
    missing = [name for name in KODAK_FILES if not (folder / name).is_file()]
    if missing:
        raise InvalidInputError(
            f"Kodak24 folder {folder} lacks {len(missing)} of kodim01.png..kodim24.png "
            f"(first missing: {missing[0]})"
        )
    return [folder / name for name in KODAK_FILES]


def voc2012_files(root: str | Path, split: str = "val", limit: int | None = None) -> list[Path]:
    """Images of a VOC2012 segmentation split, in the standard layout.

    ``root`` may be ``VOCdevkit/VOC2012`` itself or a folder containing ``VOCdevkit`` or
    ``VOC2012``; the ids come from ``ImageSets/Segmentation/<split>.txt`` and the images
    from ``JPEGImages/<id>.jpg``.
    """
    root = Path(root)
    candidates = [root, root / "VOC2012", root / "VOCdevkit" / "VOC2012"]
    base = next((c for c in candidates if (c / "JPEGImages").is_dir()), None)
    if base is None:
        raise InvalidInputError(
            f"no VOC2012 layout under {root}: looked for JPEGImages/ in "
            + ", ".join(str(c) for c in candidates)
        )
    split_file = base / "ImageSets" / "Segmentation" / f"{split}.txt"
    if not split_file.is_file():
        raise InvalidInputError(f"VOC2012 split {split!r} not found: {split_file} is missing")
    ids = [
        line.strip() for line in split_file.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    if limit is not None:
        ids = ids[: max(0, int(limit))]
    files = [base / "JPEGImages" / f"{image_id}.jpg" for image_id in ids]
    missing = [f for f in files if not f.is_file()]
    if missing:
        raise InvalidInputError(
            f"{len(missing)} images of {split_file} are missing, e.g. {missing[0]}"
        )
    return files


def iter_images(
    source: str | Path,
    split: str = "val",
    limit: int | None = None,
    on_error: Callable[[str, str], None] | None = None,
) -> Iterator[tuple[str, Image.Image]]:
    """Yield ``(id, RGB image)`` from a source:

    - ``samples``: the photos bundled in scikit-image;
    - ``kodak24:DIR``: ``kodim01.png`` ... ``kodim24.png``;
    - ``voc2012:DIR``: the ``split`` list of ``ImageSets/Segmentation`` (first ``limit``);
    - a folder (searched recursively), a glob, or one file.

    With ``on_error(image_id, message)``, a file that cannot be read (not an image, over
    the pixel bound, not a regular file) is reported there and skipped; without it, the
    first such file is an ``InvalidInputError``.
    """

    def opened(files: list[Path]) -> Iterator[tuple[str, Image.Image]]:
        for file in files:
            try:
                image = open_image(file)
            except InvalidInputError as exc:
                if on_error is None:
                    raise
                on_error(image_id(file), str(exc))
                continue
            yield image_id(file), image

    text = str(source)
    if text == "samples":
        photos = sample_photos()
        yield from photos[:limit] if limit is not None else photos
        return
    if text.startswith("kodak24:"):
        yield from opened(kodak24_files(text.split(":", 1)[1])[:limit])
        return
    if text.startswith("voc2012:"):
        yield from opened(voc2012_files(text.split(":", 1)[1], split, limit))
        return
    path = Path(text)
    if path.is_dir():
        files = _folder_files(path)
        if not files:
            raise InvalidInputError(
                f"no images ({', '.join(IMAGE_SUFFIXES)}) found in folder {path}"
            )
    elif any(ch in text for ch in "*?["):
        files = _bounded((Path(p) for p in glob.iglob(text, recursive=True)), f"{text!r}")
        if not files:
            raise InvalidInputError(f"no files match the pattern {text!r}")
    else:
        check_source(text)  # one place says what a source that names nothing is
        files = [path]
    yield from opened(_limited(files, limit, text))


def count_images(source: str | Path, split: str = "val", limit: int | None = None) -> int:
    """How many images ``source`` gives (at most ``limit``), from file names alone: no file
    is opened. Refuses what [iter_images][multisc.data.sources.iter_images] refuses for its
    size (a pattern past ``MAX_MATCHES`` names, more than ``MAX_FILES`` without a limit)."""
    text = str(source)
    if text == "samples":
        count = len(SAMPLE_PHOTOS)
    elif text.startswith("kodak24:"):
        count = len(kodak24_files(text.split(":", 1)[1]))
    elif text.startswith("voc2012:"):
        count = len(voc2012_files(text.split(":", 1)[1], split, limit))
    elif Path(text).is_dir():
        count = len(_limited(_folder_files(Path(text)), limit, text))
    elif any(ch in text for ch in "*?["):
        files = _bounded((Path(p) for p in glob.iglob(text, recursive=True)), f"{text!r}")
        count = len(_limited(files, limit, text))
    else:
        count = 1
    return min(count, limit) if limit is not None else count


def load_images(
    source: str | Path,
    split: str = "val",
    limit: int | None = None,
    on_error: Callable[[str, str], None] | None = None,
) -> list[tuple[str, Image.Image]]:
    """All images of ``source`` (see [iter_images][multisc.data.sources.iter_images]) as a list."""
    return list(iter_images(source, split, limit, on_error))
