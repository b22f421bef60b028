"""Img2Img-SC's code: imported when the scheme is built (``SPEC`` names
``img2img_sc.scheme:build``), never when schemes are listed."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import torch
from PIL import Image

from img2img_sc import NAME, Img2ImgPrepared
from multisc.channel import AnalogLink, ChannelSpec, DigitalLink
from multisc.imaging import to_image, to_tensor
from multisc.receiver.fusion import fuse_texts
from multisc.schemes import Reconstruction, Scheme, working_image
from multisc.schemes.base import channel_seeds, generators_for


class Img2ImgScheme(Scheme):
    """BLIP caption over the text link + the image downsampled over the analog link;
    Stable Diffusion img2img from the received image with the received caption."""

    name = NAME
    batched_prepare = True  # BLIP captions every image of a batch in one call

    def __init__(
        self,
        captioner,
        generator,
        text_link: DigitalLink,
        settings,  # img2img_sc.Img2ImgSettings
    ) -> None:
        self.captioner = captioner
        self.generator = generator
        self.text_link = text_link
        self.settings = settings
        self.image_link = AnalogLink()

    def prepare(self, image) -> Img2ImgPrepared:
        return self.prepare_many([image])[0]

    def prepare_many(self, images: Sequence) -> list[Img2ImgPrepared]:
        references = [working_image(image) for image in images]
        started = time.perf_counter()
        captions = self.captioner.caption(references)
        share = (time.perf_counter() - started) / max(len(references), 1)
        d = int(self.settings.downsample)
        return [
            Img2ImgPrepared(
                reference,
                caption,
                reference.resize(
                    (math.ceil(reference.width / d), math.ceil(reference.height / d)),
                    Image.Resampling.LANCZOS,
                ),
                {"caption": share},
            )
            for reference, caption in zip(references, captions, strict=True)
        ]

    def channel_uses(self, prepared: Img2ImgPrepared) -> int:
        """The caption's link plus the small image (pairs of reals, + 1 power factor)."""
        text = self.text_link.channel_uses(8 * len(prepared.caption.encode("utf-8")))
        pixels = prepared.small.width * prepared.small.height * 3
        return text + math.ceil(pixels / 2) + 1

    def transmit(
        self, prepared: Img2ImgPrepared, channels: Sequence[ChannelSpec], generator: torch.Generator
    ) -> list[Reconstruction]:
        started = time.perf_counter()
        texts, smalls, uses, pilots, bits, diffusion, links = [], [], [], [], [], [], []
        for spec, seed in zip(channels, channel_seeds(generator, channels), strict=True):
            channel_generator, diffusion_generator = generators_for(seed, self.text_link.device)
            text = self.text_link.send_text(prepared.caption, spec, channel_generator)
            x = to_tensor(prepared.small)[None].to(channel_generator.device)
            image = self.image_link.send(x, spec, channel_generator)
            texts.append(text)
            smalls.append(to_image(image.received[0].clamp(0, 1)))
            uses.append(text.channel_uses + image.channel_uses)
            pilots.append(text.pilot_uses + image.pilot_uses)  # NR DMRS; 0 on AWGN/Rayleigh
            links.append({"caption": text.channel_uses, "image": image.channel_uses})
            bits.append(text.bits)
            diffusion.append(diffusion_generator)
        channel_s = time.perf_counter() - started
        tokenizer = self.generator.pipe.tokenizer
        prompts = [fuse_texts([t.received], tokenizer) for t in texts]
        started = time.perf_counter()
        images = self.generator.img2img(
            prompts,
            diffusion,
            smalls,
            strength=self.settings.strength,
            output_sizes=[prepared.reference.size] * len(channels),
        )
        generate_s = time.perf_counter() - started
        k = max(len(channels), 1)
        return [
            Reconstruction(
                image=image,
                spec=spec,
                texts_sent=(prepared.caption,),
                texts_received=(text.received,),
                texts_corrected=(text.received,),  # no corrector
                prompt=prompt,
                bits_sent=bit,
                channel_uses=use,
                pilot_uses=pilot,
                link_uses=link,
                timings={"channel": channel_s / k, "generate": generate_s / k},
                details={
                    "strength": self.settings.strength,
                    "sent_size": list(prepared.small.size),
                },
            )
            for image, spec, text, prompt, bit, use, pilot, link in zip(
                images, channels, texts, prompts, bits, uses, pilots, links, strict=True
            )
        ]


def build(components) -> Img2ImgScheme:
    """The scheme from multisc's shared components (the captioner and generator the
    options name: BLIP and SD 1.5 by default) and this scheme's settings."""
    return Img2ImgScheme(
        components.captioner(components.options.vlm_captioner),
        components.generator(ip_adapter=False),
        components.text_link(),
        components.options.settings(NAME),
    )
