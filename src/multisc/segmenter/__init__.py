"""Segmenters as a choice: their quality on masks with VOC labels
([evaluate][multisc.segmenter.evaluate]: ``multisc segmenter eval``)."""
