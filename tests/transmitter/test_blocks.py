import numpy as np
import pytest
from PIL import Image

from multisc.errors import InvalidInputError
from multisc.transmitter.blocks import split_blocks


@pytest.mark.parametrize(
    ("size", "rows", "cols"), [((5, 7), 2, 2), ((160, 120), 2, 2), ((10, 9), 3, 4)]
)
def test_blocks_cover_every_pixel_once(size, rows, cols):
    image = Image.fromarray(
        np.random.default_rng(0).integers(0, 255, (*size[::-1], 3), dtype=np.uint8)
    )
    blocks = split_blocks(image, rows, cols)
    assert len(blocks) == rows * cols
    cover = np.zeros(size[::-1], dtype=int)
    for block in blocks:
        left, top, right, bottom = block.box
        cover[top:bottom, left:right] += 1
        assert np.array_equal(np.asarray(block.image), np.asarray(image)[top:bottom, left:right])
    assert (cover == 1).all()
    # remainders go to the last row and column
    assert blocks[-1].box[2:] == size and blocks[0].box[:2] == (0, 0)
    widths = [b.box[2] - b.box[0] for b in blocks[:cols]]
    assert widths[-1] >= widths[0] and widths[0] == size[0] // cols


def test_positions_are_named_for_2x2():
    blocks = split_blocks(Image.new("RGB", (4, 4)))
    assert [b.position for b in blocks] == ["top left", "top right", "bottom left", "bottom right"]


@pytest.mark.parametrize("size", [(1, 1), (1, 5)])
def test_images_smaller_than_the_grid_are_a_clear_error(size):
    with pytest.raises(InvalidInputError, match="at least one pixel per block"):
        split_blocks(Image.new("RGB", size))


def test_zero_sized_images_are_a_clear_error():
    with pytest.raises(InvalidInputError, match="no pixels"):
        split_blocks(Image.new("RGB", (0, 5)))


def test_modes_are_converted():
    for mode in ("L", "RGBA", "P", "I;16"):
        assert all(b.image.mode == "RGB" for b in split_blocks(Image.new(mode, (8, 8))))
