"""Transmitter -> texts over DigitalLink at low SNR -> corrector -> fusion -> generator,
on a real photo with the tiny components of multisc.testing (loaded via --models DIR)."""

import torch

from multisc.channel import AnalogLink, ChannelSpec, DigitalLink
from multisc.imaging import to_image, to_tensor
from multisc.receiver.correction import BartCorrector
from multisc.receiver.fusion import fuse_texts
from multisc.receiver.generation import ImageGenerator
from multisc.transmitter.blocks import split_blocks
from multisc.transmitter.captioning import LlavaCaptioner
from multisc.transmitter.segmentation import Segmenter


def test_multi_text_pipeline_end_to_end_with_tiny_models(tiny_models, photo):
    segmenter = Segmenter.from_pretrained(tiny_models, "cpu", resize=96)
    captioner = LlavaCaptioner.from_pretrained(tiny_models, "cpu", max_new_tokens=10)
    corrector = BartCorrector.from_pretrained(tiny_models, "cpu", max_length=32)
    generator = ImageGenerator.from_pretrained(tiny_models, "cpu", steps=2, size=32)
    g = torch.Generator().manual_seed(0)

    (segmentation,) = segmenter.segment([photo])
    blocks = split_blocks(photo)
    texts = captioner.caption([block.image for block in blocks])
    assert len(texts) == 4

    spec = ChannelSpec(0.0)  # low SNR, uncoded BPSK: the texts arrive misspelled
    received = DigitalLink("bpsk", device="cpu").send_texts(texts, spec, g)
    assert sum(r.bit_errors for r in received) > 0
    noisy_slice = AnalogLink().send(to_tensor(segmentation.slice)[None], spec, g).received[0]

    corrected = corrector.correct([r.received for r in received])
    prompt = fuse_texts(corrected, generator.pipe.tokenizer)
    assert len(generator.pipe.tokenizer(prompt)["input_ids"]) <= 77
    (reconstruction,) = generator.generate(
        [prompt],
        [torch.Generator().manual_seed(0)],
        slices=[to_image(noisy_slice)],
        output_sizes=[photo.size],
    )
    assert reconstruction.mode == "RGB" and reconstruction.size == photo.size
