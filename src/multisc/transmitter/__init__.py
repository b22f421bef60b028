"""Transmitter: main-object segmentation (the slice), block splitting, captioning."""
