"""Image sources yielding ``(id, RGB image)`` pairs."""

from multisc.data.sources import SAMPLE_PHOTOS, load_images, open_image, sample_photos

__all__ = ["SAMPLE_PHOTOS", "load_images", "open_image", "sample_photos"]
