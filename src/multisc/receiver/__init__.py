"""Receiver: text correction, fusion of block texts, image generation."""
