"""Image conversions shared by every stage: anything PIL opens -> 8-bit RGB, and tensors;
and the one way image files are opened (regular files only, pixels bounded)."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import numpy as np
import torch
from PIL import Image

from multisc.errors import InvalidInputError

ImageLike = Image.Image | np.ndarray
V = TypeVar("V")

#: the most pixels multisc opens in one image, wherever it comes from (inputs, a run
#: directory's PNGs, cache entries): 64 megapixels, 8000 x 8000. Images are worked on at a
#: longer side of at most 1024 pixels, so nothing larger is ever needed, and a 420 KB PNG
#: can claim 12000 x 12000 pixels (a decompression bomb: 432 MB of RGB once decoded).
MAX_PIXELS = 64_000_000


def check_pixels(size: tuple[int, int], name: str) -> None:
    """Refuse an image of more than ``MAX_PIXELS`` pixels, before it is decoded."""
    width, height = size
    if width * height > MAX_PIXELS:
        raise InvalidInputError(
            f"refusing {name}: {width} x {height} pixels is over the {MAX_PIXELS:,} multisc "
            "opens in one image (a decompression bomb, or a photo to downscale first: images "
            "are worked on at a longer side of at most 1024 pixels)"
        )


def _decode(source, name: str, formats: list[str] | None, rgb: bool = True) -> Image.Image:
    import warnings

    from PIL import ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():  # our bound below says it, in one line
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(source, formats=formats)
        with opened as image:
            check_pixels(image.size, name)
            image.load()
            if not rgb:
                return image.copy()
            # the orientation a camera recorded: a rotated photo is shown upright
            return to_rgb(ImageOps.exif_transpose(image))
    except Image.DecompressionBombError as exc:
        raise InvalidInputError(f"refusing {name}: {exc}") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        what = "a PNG" if formats == ["PNG"] else "an image"
        raise InvalidInputError(f"cannot read {name} as {what}: {exc}") from exc


def open_png(data: bytes, name: str) -> Image.Image:
    """8-bit RGB from PNG bytes (a run directory's or a cache entry's): decoded as PNG only,
    pixels bounded by ``MAX_PIXELS``."""
    import io

    return _decode(io.BytesIO(data), name, ["PNG"])


def decode_png(data: bytes, name: str) -> Image.Image:
    """A PNG as stored (its mode kept: masks stay masks), decoded as PNG only, pixels
    bounded by ``MAX_PIXELS``."""
    import io

    return _decode(io.BytesIO(data), name, ["PNG"], rgb=False)


def open_image_file(path, mask: bool = False) -> Image.Image:
    """8-bit RGB from an image file of any format PIL reads, EXIF orientation applied:
    regular files only (a FIFO is refused, not waited on), pixels bounded. With ``mask``,
    a PNG as stored (a class map: palette or 8-bit indices, mode kept)."""
    import os
    import stat
    from pathlib import Path

    name = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError as exc:
        raise InvalidInputError(f"image file not found: {name}") from exc
    except OSError as exc:
        raise InvalidInputError(f"cannot open {name}: {exc.strerror}") from exc
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InvalidInputError(f"{name} is not a regular file: multisc reads only files")
        os.set_blocking(fd, True)
        shown = Path(name).name if len(name) > 300 else name
        if mask:
            return _decode(handle, shown, ["PNG"], rgb=False)
        return _decode(handle, shown, None)


def to_rgb(image: ImageLike) -> Image.Image:
    """Convert grayscale, RGBA, palette, 16-bit or float images to 8-bit RGB.

    Alpha is composited on white; 16-bit and 32-bit integer images are scaled down by
    their bit depth (not clipped); float arrays are taken as [0, 1].
    """
    if isinstance(image, np.ndarray):
        image = _array_to_pil(image)
    if not isinstance(image, Image.Image):
        raise InvalidInputError(
            f"expected a PIL image or a numpy array, got {type(image).__name__}"
        )
    if image.width == 0 or image.height == 0:
        raise InvalidInputError(f"image has no pixels ({image.width}x{image.height})")
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return _gray_array_to_rgb(np.asarray(image).astype(np.float64) / 65535.0)
    if mode == "I":
        array = np.asarray(image).astype(np.float64)
        top = 65535.0 if array.max() > 255 else 255.0
        return _gray_array_to_rgb(array / top)
    if mode == "F":
        return _gray_array_to_rgb(np.asarray(image).astype(np.float64))
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _gray_array_to_rgb(array: np.ndarray) -> Image.Image:
    gray = (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return Image.fromarray(gray).convert("RGB")


def _array_to_pil(array: np.ndarray) -> Image.Image:
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise InvalidInputError(f"expected an HxW, HxWx3 or HxWx4 array, got shape {array.shape}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.dtype == np.uint8:
        return Image.fromarray(array)
    if array.dtype == np.uint16:
        scaled = (array.astype(np.float64) / 65535.0 * 255.0 + 0.5).astype(np.uint8)
        return Image.fromarray(scaled)
    if np.issubdtype(array.dtype, np.floating):
        return Image.fromarray((np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))
    if np.issubdtype(array.dtype, np.bool_):
        return Image.fromarray(array.astype(np.uint8) * 255)
    raise InvalidInputError(f"unsupported image array dtype {array.dtype}")


def to_tensor(image: ImageLike) -> torch.Tensor:
    """RGB image -> ``[3, H, W]`` float32 tensor in [0, 1]."""
    array = np.asarray(to_rgb(image), dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def to_image(tensor: torch.Tensor) -> Image.Image:
    """``[3, H, W]`` tensor in [0, 1] -> 8-bit RGB image (values clipped, rounded)."""
    if tensor.dim() != 3 or tensor.shape[0] != 3:
        raise InvalidInputError(f"expected a [3, H, W] tensor, got shape {tuple(tensor.shape)}")
    array = (tensor.detach().clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).permute(1, 2, 0)
    return Image.fromarray(array.cpu().numpy())


def image_key(image: Image.Image) -> str:
    """A content hash of ``image`` (pixels, size and mode; SHA-256 hex): equal images,
    however they were made, share it."""
    digest = hashlib.sha256(image.tobytes())
    digest.update(repr((image.size, image.mode)).encode())
    return digest.hexdigest()


class Remembered(Generic[V]):
    """The last results computed per image, by content (``image_key``): a small LRU
    whose capacity grows to the largest batch asked for at once, so a batch stays whole."""

    def __init__(self, capacity: int) -> None:
        self.capacity = int(capacity)
        self._items: OrderedDict[str, V] = OrderedDict()

    def get_many(
        self, images: Sequence[Image.Image], compute: Callable[[list[Image.Image]], list[V]]
    ) -> list[V]:
        """The result for each image: remembered ones as they are, the others (each
        distinct image once) from one ``compute`` call on the list of them."""
        keys = [image_key(image) for image in images]
        self.capacity = max(self.capacity, len(keys))
        todo = {key: image for key, image in zip(keys, images, strict=True) if key not in self}
        if todo:
            for key, value in zip(todo, compute(list(todo.values())), strict=True):
                self._items[key] = value
        out = []
        for key in keys:
            self._items.move_to_end(key)
            out.append(self._items[key])
        self._trim()
        return out

    def put(self, image: Image.Image, value: V) -> None:
        key = image_key(image)
        self._items[key] = value
        self._items.move_to_end(key)
        self._trim()

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def _trim(self) -> None:
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
