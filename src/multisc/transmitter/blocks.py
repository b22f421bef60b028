"""Splitting an image into a grid of sub-images (the paper's 2x2 blocks)."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from multisc.errors import InvalidInputError
from multisc.imaging import to_rgb

POSITION_NAMES = {
    (2, 2): ("top left", "top right", "bottom left", "bottom right"),
}


@dataclass(frozen=True)
class Block:
    """One sub-image.

    :ivar image: the RGB sub-image.
    :ivar box: ``(left, top, right, bottom)`` in pixels of the full image (right/bottom
        exclusive).
    :ivar row: grid row, from the top.
    :ivar col: grid column, from the left.
    :ivar position: words for the position ("top left", ...; "row 1, column 3" otherwise).
    """

    image: Image.Image
    box: tuple[int, int, int, int]
    row: int
    col: int
    position: str


def _edges(length: int, parts: int) -> list[int]:
    step = length // parts  # remainders go to the last row / column
    return [i * step for i in range(parts)] + [length]


def split_blocks(image: Image.Image, rows: int = 2, cols: int = 2) -> list[Block]:
    """Cut ``image`` into ``rows x cols`` blocks, row by row; the last row and column take
    the remainder pixels, so every pixel belongs to exactly one block."""
    image = to_rgb(image)
    if rows < 1 or cols < 1:
        raise InvalidInputError(f"the block grid must be at least 1x1, got {rows}x{cols}")
    if image.width < cols or image.height < rows:
        raise InvalidInputError(
            f"a {image.width}x{image.height} image cannot be split into {rows}x{cols} blocks: "
            "it needs at least one pixel per block"
        )
    xs, ys = _edges(image.width, cols), _edges(image.height, rows)
    names = POSITION_NAMES.get((rows, cols))
    blocks = []
    for r in range(rows):
        for c in range(cols):
            box = (xs[c], ys[r], xs[c + 1], ys[r + 1])
            position = names[r * cols + c] if names else f"row {r + 1}, column {c + 1}"
            blocks.append(Block(image.crop(box), box, r, c, position))
    return blocks
