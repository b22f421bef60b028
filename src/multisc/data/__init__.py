"""Image sources yielding ``(id, RGB image)`` pairs.

Light to import: [check_source][multisc.data.names.check_source] refuses a source that names
nothing before torch loads; the readers (``sources``) load on first use.
"""

from multisc.lazy import lazy_exports

__all__ = ["SAMPLE_PHOTOS", "check_source", "load_images", "open_image", "sample_photos"]

__getattr__ = lazy_exports(
    __name__,
    {
        "SAMPLE_PHOTOS": "sources",
        "load_images": "sources",
        "open_image": "sources",
        "sample_photos": "sources",
        "check_source": "names",
    },
)
