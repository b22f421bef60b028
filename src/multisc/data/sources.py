"""Where images come from: photos bundled in scikit-image, a folder, or a glob."""

from __future__ import annotations

import glob
from collections.abc import Iterator
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from multisc.errors import InvalidInputError
from multisc.imaging import to_rgb

#: Colour photographs that ship inside scikit-image (no download).
SAMPLE_PHOTOS: tuple[str, ...] = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle")
#: Further bundled colour images, kept apart from SAMPLE_PHOTOS for training (deep JSCC).
TRAINING_PHOTOS: tuple[str, ...] = (
    "motorcycle_right",
    "retina",
    "immunohistochemistry",
    "hubble_deep_field",
)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".gif")


def sample_photos(names: tuple[str, ...] = SAMPLE_PHOTOS) -> list[tuple[str, Image.Image]]:
    """The bundled scikit-image photos as ``(name, RGB image)``."""
    from skimage import data as skdata

    special = {
        "motorcycle": lambda: skdata.stereo_motorcycle()[0],
        "motorcycle_right": lambda: skdata.stereo_motorcycle()[1],
    }
    photos = []
    for name in names:
        loader = special.get(name) or getattr(skdata, name, None)
        if loader is None:
            raise InvalidInputError(f"scikit-image bundles no image called {name!r}")
        photos.append((name, to_rgb(loader())))
    return photos


def open_image(path: str | Path) -> Image.Image:
    """Open an image file as 8-bit RGB, with a clear error when it cannot be read."""
    try:
        with Image.open(path) as image:
            image.load()
            return to_rgb(image)
    except FileNotFoundError as exc:
        raise InvalidInputError(f"image file not found: {path}") from exc
    except (UnidentifiedImageError, OSError) as exc:
        raise InvalidInputError(f"cannot read {path} as an image: {exc}") from exc


def _folder_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
    )


def iter_images(source: str | Path) -> Iterator[tuple[str, Image.Image]]:
    """Yield ``(id, RGB image)`` from ``"samples"``, a folder (searched recursively) or a glob."""
    text = str(source)
    if text == "samples":
        yield from sample_photos()
        return
    path = Path(text)
    if path.is_dir():
        files = _folder_files(path)
        if not files:
            raise InvalidInputError(
                f"no images ({', '.join(IMAGE_SUFFIXES)}) found in folder {path}"
            )
    elif any(ch in text for ch in "*?["):
        files = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
        if not files:
            raise InvalidInputError(f"no files match the pattern {text!r}")
    elif path.is_file():
        files = [path]
    else:
        raise InvalidInputError(
            f"image source {text!r} is neither 'samples', an existing folder, a file nor a glob"
        )
    for file in files:
        yield file.stem, open_image(file)


def load_images(source: str | Path) -> list[tuple[str, Image.Image]]:
    """All images of ``source`` (see :func:`iter_images`) as a list."""
    return list(iter_images(source))
