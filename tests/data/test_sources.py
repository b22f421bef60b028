import numpy as np
import pytest
from PIL import Image

from multisc.data.sources import (
    SAMPLE_PHOTOS,
    TRAINING_PHOTOS,
    load_images,
    open_image,
    sample_photos,
)
from multisc.errors import InvalidInputError


def test_bundled_photos_are_rgb_and_disjoint_from_training_photos():
    photos = sample_photos()
    assert [name for name, _ in photos] == list(SAMPLE_PHOTOS)
    assert all(image.mode == "RGB" and min(image.size) >= 300 for _, image in photos)
    assert not set(SAMPLE_PHOTOS) & set(TRAINING_PHOTOS)


def test_folder_and_glob_sources(tmp_path):
    for i, mode in enumerate(("RGB", "L", "RGBA", "P")):
        Image.new(mode, (8 + i, 6)).save(tmp_path / f"img{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    images = load_images(tmp_path)
    assert [name for name, _ in images] == ["img0", "img1", "img2", "img3"]
    assert all(image.mode == "RGB" for _, image in images)
    assert len(load_images(str(tmp_path / "img[12].png"))) == 2


def test_sixteen_bit_images_are_scaled_not_clipped(tmp_path):
    array = np.full((4, 4), 65535 // 2, dtype=np.uint16)
    Image.fromarray(array).save(tmp_path / "deep.png")
    value = np.asarray(open_image(tmp_path / "deep.png"))[0, 0, 0]
    assert 125 <= value <= 130


def test_missing_empty_and_unreadable_sources_are_clear_errors(tmp_path):
    with pytest.raises(InvalidInputError, match="neither"):
        load_images(tmp_path / "missing")
    with pytest.raises(InvalidInputError, match="no images"):
        load_images(tmp_path)
    with pytest.raises(InvalidInputError, match="no files match"):
        load_images(str(tmp_path / "*.png"))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(InvalidInputError, match="cannot read"):
        load_images(tmp_path)


def test_kodak24_folder(tmp_path):
    for i in range(1, 25):
        Image.new("RGB", (6, 4), (i, 0, 0)).save(tmp_path / f"kodim{i:02d}.png")
    images = load_images(f"kodak24:{tmp_path}")
    assert [name for name, _ in images][:2] == ["kodim01", "kodim02"] and len(images) == 24
    (tmp_path / "kodim07.png").unlink()
    with pytest.raises(InvalidInputError, match=r"kodim07\.png"):
        load_images(f"kodak24:{tmp_path}")


def test_voc2012_layout_split_and_limit(tmp_path):
    base = tmp_path / "VOCdevkit" / "VOC2012"
    (base / "JPEGImages").mkdir(parents=True)
    (base / "ImageSets" / "Segmentation").mkdir(parents=True)
    ids = ["2007_000032", "2007_000039", "2007_000063"]
    for image_id in ids:
        Image.new("RGB", (5, 5)).save(base / "JPEGImages" / f"{image_id}.jpg")
    (base / "ImageSets" / "Segmentation" / "val.txt").write_text("\n".join(ids) + "\n")
    assert [n for n, _ in load_images(f"voc2012:{tmp_path}", limit=2)] == ids[:2]
    assert len(load_images(f"voc2012:{base}")) == 3
    with pytest.raises(InvalidInputError, match=r"train\.txt is missing"):
        load_images(f"voc2012:{tmp_path}", split="train")
    with pytest.raises(InvalidInputError, match="no VOC2012 layout"):
        load_images(f"voc2012:{tmp_path / 'nothing'}")
