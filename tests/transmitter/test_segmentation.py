import numpy as np
import pytest
from PIL import Image

from multisc.errors import ModelNotAvailableError
from multisc.transmitter.segmentation import VOC_CLASSES, Segmenter, main_object


def test_tiny_fcn_loads_through_models_dir_and_slice_is_zero_outside_mask(tiny_models, photo):
    segmenter = Segmenter.from_pretrained(tiny_models, device="cpu", resize=96)
    (seg,) = segmenter.segment([photo])
    assert seg.mask.shape == (photo.height, photo.width) and seg.mask.dtype == bool
    assert seg.class_name in VOC_CLASSES
    left, top, right, bottom = seg.box
    assert 0 <= left < right <= photo.width and 0 <= top < bottom <= photo.height
    assert seg.slice.size == (right - left, bottom - top)
    crop_mask = seg.mask[top:bottom, left:right]
    pixels = np.asarray(seg.slice)
    assert (pixels[~crop_mask] == 0).all()
    original = np.asarray(photo)[top:bottom, left:right]
    assert np.array_equal(pixels[crop_mask], original[crop_mask])


def test_main_object_is_the_largest_connected_region():
    classes = np.zeros((20, 30), dtype=np.int64)
    classes[1:6, 1:11] = 12  # dog, 50 px
    classes[10:16, 1:6] = 12  # dog, 30 px: together 80, but not connected
    classes[10:16, 15:25] = 15  # person, 60 px: the largest single region
    image = Image.new("RGB", (30, 20), (200, 100, 50))
    seg = main_object(image, classes)
    assert seg.found and seg.class_name == "person" and seg.box == (15, 10, 25, 16)
    assert seg.mask.sum() == 60


def test_only_background_gives_a_flagged_centred_box():
    image = Image.new("RGB", (40, 20), (10, 20, 30))
    seg = main_object(image, np.zeros((20, 40), dtype=np.int64))
    assert not seg.found and seg.class_id == 0
    assert seg.box == (10, 5, 30, 15) and seg.slice.size == (20, 10)


def test_missing_segmenter_weights_are_one_clear_error(tmp_path):
    with pytest.raises(ModelNotAvailableError, match="make-tiny"):
        Segmenter.from_pretrained(tmp_path)


def test_batched_segmentation_equals_one_by_one_and_runs_once_per_image(tiny_models, photo):
    segmenter = Segmenter.from_pretrained(tiny_models, device="cpu", resize=96)
    images = [photo, photo.rotate(90), photo.resize((100, 80)), photo.transpose(0)]
    single = [segmenter.class_map(image) for image in images]
    forwards = []
    segmenter.model.register_forward_hook(lambda m, args, out: forwards.append(args[0].shape[0]))
    batched = segmenter.class_maps(images)
    assert sorted(forwards) == [1, 3]  # one pass per image size
    for a, b in zip(single, batched, strict=True):
        assert a.shape == b.shape and (a == b).mean() > 0.999  # float sums: batch order
    forwards.clear()
    first = segmenter.segment(images)
    assert sorted(forwards) == [1, 3]
    again = segmenter.segment([*images[::-1], images[0]])  # remembered: no pass at all
    assert sorted(forwards) == [1, 3]
    assert [s.box for s in again] == [*(s.box for s in first[::-1]), first[0].box]
