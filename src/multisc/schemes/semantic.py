"""Generative semantic schemes: Multi-SC (the paper), single-text SC and VLM-CSC.

They differ only in their parts (each a registered choice), so one class serves all three:

- ``multisc``: segment -> slice; rows x cols blocks, one caption each (the paper's LLaVA
  by default), each on its own digital link, and one link for the slice; the receiver
  corrects, fuses, and generates with the IP-Adapter from the text and received slice.
- ``single_text``: the same with one caption of the whole image (1 x 1).
- ``vlm_csc``: one caption (BLIP) of the whole image, text-only Stable Diffusion.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from PIL import Image

from multisc.channel import ChannelSpec, DigitalLink
from multisc.errors import InvalidInputError
from multisc.imaging import Remembered
from multisc.receiver.correction import Corrector
from multisc.receiver.fusion import fuse_texts
from multisc.receiver.generation import ImageGenerator
from multisc.schemes.base import (
    Reconstruction,
    Scheme,
    channel_seeds,
    generators_for,
    working_image,
)
from multisc.schemes.block_links import BlockLinks, correct_delivered
from multisc.schemes.slices import SliceLink, SlicePayload
from multisc.schemes.stages import StageStore, captions_problem, run_staged, segmentation_problem
from multisc.transmitter.blocks import split_blocks
from multisc.transmitter.segmentation import Segmenter


@dataclass(frozen=True)
class SemanticPrepared:
    """The SNR-independent part of a semantic transmission (picklable, cacheable).

    :ivar reference: the working image (what is sent, and what metrics compare against).
    :ivar texts: one caption per block (row by row), or one.
    :ivar positions: the blocks' positions ("top left", ...).
    :ivar slice_payload: the encoded main-object slice, or ``None`` (no slice link).
    :ivar class_name: the main object's VOC class, as segmentation found it.
    :ivar found: segmentation found an object (else the box is a centred default).
    :ivar box: the slice's box in the image, (left, top, right, bottom) pixels.
    :ivar timings: seconds spent in ``segment`` and ``caption``.
    """

    reference: Image.Image
    texts: tuple[str, ...]
    positions: tuple[str, ...]
    slice_payload: SlicePayload | None = None
    class_name: str | None = None
    found: bool | None = None
    box: tuple[int, int, int, int] | None = None
    timings: dict[str, float] = field(default_factory=dict)


class SemanticScheme(Scheme):
    """A captioning transmitter and a generative receiver (see the module docstring).

    :param captioner: anything with ``caption(images) -> list[str]`` (LLaVA or BLIP).
    :param corrector: the receiver's text corrector.
    :param generator: the image generator (with the IP-Adapter when a slice is sent).
    :param text_link: the digital link every text goes over (default: uncoded BPSK, so
        noise misspells text as in the paper).
    :param segmenter, slice_link: both or neither: the main-object slice and how it
        travels.
    :param rows, cols: the block grid (1 x 1 = one caption of the whole image).
    :param positions: prefix each block text with its position when fusing.
    :param candidates: images drawn per transmission (one batched generation); the one
        that best agrees with what was received is kept
        ([multisc.receiver.selection][multisc.receiver.selection]).
        1: the paper (one draw, no selection).
    :param select: ``text``, ``slice`` or ``text+slice``: what a candidate is scored against.
    :param selector: the CLIP image-text scorer (needed when ``select`` reads the text).
    :param links: how the block text links differ (SNR offsets, a random spread, outage:
        [BlockLinks][multisc.schemes.block_links.BlockLinks]); by default they do not.
    :param stage_keys: what each prepare stage depends on (``segment``, ``caption``: the
        part, its settings, the weights it loads), under which a stage store keeps its
        results ([multisc.schemes.stages][multisc.schemes.stages]); ``None``: no stage is
        stored.
    """

    batched_prepare = True

    def __init__(
        self,
        name: str,
        captioner,
        corrector: Corrector,
        generator: ImageGenerator,
        text_link: DigitalLink,
        segmenter: Segmenter | None = None,
        slice_link: SliceLink | None = None,
        rows: int = 2,
        cols: int = 2,
        positions: bool = False,
        candidates: int = 1,
        select: str = "text",
        selector=None,
        links: BlockLinks | None = None,
        stage_keys: dict[str, str] | None = None,
    ) -> None:
        from multisc.receiver.selection import SELECTIONS

        if (segmenter is None) != (slice_link is None):
            raise ValueError("give both a segmenter and a slice link, or neither")
        if select not in SELECTIONS:
            raise InvalidInputError(f"select {select!r} is not one of {', '.join(SELECTIONS)}")
        if int(candidates) > 1 and "slice" in select and slice_link is None:
            raise InvalidInputError(f"{name} sends no slice: select candidates by text")
        if int(candidates) > 1 and "text" in select and selector is None:
            raise InvalidInputError(f"{name}: selecting by text needs a CLIP selector")
        self.candidates = int(candidates)
        self.select = select
        self.selector = selector
        self.name = name
        self.captioner = captioner
        self.corrector = corrector
        self.generator = generator
        self.text_link = text_link
        self.segmenter = segmenter
        self.slice_link = slice_link
        self.rows, self.cols = int(rows), int(cols)
        self.positions = bool(positions)
        self.links = links or BlockLinks()
        self.links.check_blocks(self.rows * self.cols)
        self.stage_keys = dict(stage_keys or {})
        #: where stage results are kept (``use_stages``)
        self.stages: StageStore | None = None
        self._recent: Remembered[SemanticPrepared] = Remembered(self.REMEMBER)

    #: prepares remembered per scheme instance (the budget "same as multisc" asks for the
    #: image the multisc scheme itself just prepared, or is about to); grows to the
    #: largest batch ``prepare_many`` was given, so a batch is remembered whole
    REMEMBER = 4

    def prepare(self, image) -> SemanticPrepared:
        """Segment (if there is a slice link), split, caption: once per image (the last
        few results are remembered, keyed by the image's content)."""
        return self.prepare_many([image])[0]

    def prepare_many(self, images: Sequence) -> list[SemanticPrepared]:
        """``prepare`` of several images at once: one batched segmentation and the
        captions of every block of every image in one captioner call (chunked by the
        captioner's ``batch_size``). The same results as one by one; ``timings`` are each
        image's share of the batch's seconds."""
        references = [working_image(image) for image in images]
        return self._recent.get_many(references, self._prepare)

    def prepare_timings(self, prepared: SemanticPrepared) -> dict[str, float]:
        return dict(prepared.timings)

    def use_stages(self, store: StageStore | None) -> None:
        """Keep and reuse each prepare stage's results in ``store`` (a run's prepare cache)."""
        self.stages = store

    def remember(self, prepared: SemanticPrepared) -> None:
        """Take ``prepared`` (e.g. from a disk cache) as this scheme's prepare of its image."""
        self._recent.put(prepared.reference, prepared)

    def _prepare(self, references: list[Image.Image]) -> list[SemanticPrepared]:
        n = len(references)
        grids = [split_blocks(reference, self.rows, self.cols) for reference in references]
        segmentations: list = [None] * n
        timings: list[dict[str, float]] = [{} for _ in references]
        if self.segmenter is not None:
            segmentations, seconds = run_staged(
                "segment", self.stage_keys.get("segment"), self.stages, references,
                self.segmenter.segment, segmentation_problem,
            )  # fmt: skip
            for timing, value in zip(timings, seconds, strict=True):
                timing["segment"] = value
        texts, seconds = run_staged(
            "caption", self.stage_keys.get("caption"), self.stages, references,
            self._caption_images, captions_problem(self.rows * self.cols),
        )  # fmt: skip
        for timing, value in zip(timings, seconds, strict=True):
            timing["caption"] = value
        out = []
        for reference, blocks, segmentation, captions, timing in zip(
            references, grids, segmentations, texts, timings, strict=True
        ):
            payload = None
            if segmentation is not None and self.slice_link is not None:
                payload = self.slice_link.encode(segmentation.slice)
            out.append(
                SemanticPrepared(
                    reference=reference,
                    texts=tuple(captions),
                    positions=tuple(block.position for block in blocks),
                    slice_payload=payload,
                    class_name=segmentation.class_name if segmentation else None,
                    found=segmentation.found if segmentation else None,
                    box=segmentation.box if segmentation else None,
                    timings=timing,
                )
            )
        return out

    def _caption_images(self, references: list[Image.Image]) -> list[tuple[str, ...]]:
        """The captions of each image's blocks (row by row; the whole image when 1 x 1),
        every block of every image in one captioner call."""
        grids = [split_blocks(reference, self.rows, self.cols) for reference in references]
        images = [
            image
            for reference, blocks in zip(references, grids, strict=True)
            for image in ([reference] if len(blocks) == 1 else [b.image for b in blocks])
        ]
        captions = self.captioner.caption(images)
        out, start = [], 0
        for blocks in grids:
            out.append(tuple(captions[start : start + len(blocks)]))
            start += len(blocks)
        return out

    def channel_uses(self, prepared: SemanticPrepared) -> int:
        """Channel uses of one transmission (SNR-independent): every text link plus the slice."""
        uses = sum(self.text_link.channel_uses(8 * len(t.encode("utf-8"))) for t in prepared.texts)
        if prepared.slice_payload is not None and self.slice_link is not None:
            uses += self.slice_link.channel_uses(prepared.slice_payload)
        return uses

    def transmit(
        self,
        prepared: SemanticPrepared,
        channels: Sequence[ChannelSpec],
        generator: torch.Generator,
    ) -> list[Reconstruction]:
        """Send over every condition; correct all received texts in one batch and generate
        all reconstructions in one diffusion call."""
        from multisc.receiver.selection import send_box

        seeds = channel_seeds(generator, channels)
        started = time.perf_counter()
        received, slices, diffusion_generators, boxes, deliveries = [], [], [], [], []
        for spec, seed in zip(channels, seeds, strict=True):
            channel_generator, diffusion_generator = generators_for(seed, self.text_link.device)
            if self.links.differ:  # each block on its own link (draws only then)
                deliveries.append(
                    self.links.send(self.text_link, prepared.texts, spec, channel_generator)
                )
                received.append(deliveries[-1].texts)
            else:
                received.append(self.text_link.send_texts(prepared.texts, spec, channel_generator))
            if prepared.slice_payload is not None and self.slice_link is not None:
                slices.append(self.slice_link.send(prepared.slice_payload, spec, channel_generator))
                if self._sends_box(prepared):  # after the rest: their noise is unchanged
                    boxes.append(send_box(self.text_link, prepared.box, spec, channel_generator))
            diffusion_generators.append(diffusion_generator)
        channel_s = time.perf_counter() - started

        started = time.perf_counter()
        corrected = correct_delivered(self.corrector, received, [d.lost for d in deliveries])
        correct_s = time.perf_counter() - started

        tokenizer = self.generator.pipe.tokenizer
        positions = list(prepared.positions) if self.positions else None
        prompts = [fuse_texts(texts, tokenizer, positions=positions) for texts in corrected]

        started = time.perf_counter()
        images, selections = self._generate_and_select(
            prepared, prompts, slices, boxes, diffusion_generators, seeds
        )
        generate_s = time.perf_counter() - started

        k = len(channels)
        out = []
        for i, spec in enumerate(channels):
            slice_received = slices[i] if slices else None
            slice_lost = slice_received is not None and slice_received.image is None
            text_pilots = sum(t.pilot_uses for t in received[i])
            slice_pilots = slice_received.pilot_uses if slice_received else 0
            uses = sum(t.channel_uses for t in received[i])
            bits = sum(t.bits for t in received[i])
            if slice_received is not None:
                uses += slice_received.channel_uses
                bits += slice_received.bits
            box_uses = boxes[i].channel_uses if boxes else 0
            uses += box_uses
            bits += 8 * len(boxes[i].sent) if boxes else 0
            out.append(
                Reconstruction(
                    image=images[i],
                    spec=spec,
                    texts_sent=prepared.texts,
                    texts_received=tuple(t.received for t in received[i]),
                    texts_corrected=tuple(corrected[i]),
                    prompt=prompts[i],
                    bits_sent=bits,
                    channel_uses=uses,
                    pilot_uses=text_pilots + slice_pilots,
                    link_uses={
                        **{f"text_{k + 1}": t.channel_uses for k, t in enumerate(received[i])},
                        **({"slice": slice_received.channel_uses} if slice_received else {}),
                        **({"box": box_uses} if boxes else {}),
                    },
                    failed=slice_lost,
                    timings={
                        "channel": channel_s / k,
                        "correct": correct_s / k,
                        "generate": generate_s / k,
                    },
                    details={
                        "text_bit_errors": sum(t.bit_errors for t in received[i]),
                        "text_bits": sum(t.bits for t in received[i]),
                        "text_channel_uses": sum(t.channel_uses for t in received[i]),
                        "slice_channel_uses": slice_received.channel_uses if slice_received else 0,
                        "text_pilot_uses": text_pilots,
                        "slice_pilot_uses": slice_pilots,
                        "slice_lost": slice_lost,
                        "class_name": prepared.class_name,
                        "object_found": prepared.found,
                        **selections[i],
                        **(deliveries[i].details(self.links, spec) if deliveries else {}),
                    },
                )
            )
        return out

    def _sends_box(self, prepared: SemanticPrepared) -> bool:
        """Whether the slice's box travels too (a slice score places the slice with it)."""
        return self.candidates > 1 and "slice" in self.select and prepared.box is not None

    def _generate_and_select(
        self, prepared, prompts, slices, boxes, diffusion_generators, seeds
    ) -> tuple[list[Image.Image], list[dict]]:
        """One image per condition: with ``candidates`` K > 1, K per condition in one
        batched generation (candidate 0 from the very generator a single draw uses), the
        best kept; returns the images and, per condition, the candidates' scores and the
        choice (``{}`` with K = 1)."""
        from multisc.receiver.selection import (
            candidate_generator,
            choose,
            received_box,
            slice_score,
        )

        k = self.candidates
        if k == 1:
            return self._generate(prepared, prompts, slices, diffusion_generators), [{}] * len(
                prompts
            )
        expanded = [p for p in prompts for _ in range(k)]
        generators = [
            g if j == 0 else candidate_generator(seed, j)
            for g, seed in zip(diffusion_generators, seeds, strict=True)
            for j in range(k)
        ]
        copies = [s for s in slices for _ in range(k)]
        drawn = self._generate(prepared, expanded, copies, generators)
        images, selections = [], []
        for i, prompt in enumerate(prompts):
            mine = drawn[i * k : (i + 1) * k]
            scores: dict[str, list[float]] = {}
            if "text" in self.select:
                scores["text"] = [float(v) for v in self.selector.scores(mine, [prompt] * k)]
            if "slice" in self.select:
                got = slices[i].image if slices else None
                box = received_box(boxes[i], mine[0].size) if boxes else None
                sent = prepared.slice_payload.image.size if prepared.slice_payload else None
                if got is None or box is None or sent is None:  # slice or box lost
                    scores["slice"] = [0.0] * k
                else:
                    scores["slice"] = [slice_score(c, got, box, sent) for c in mine]
            chosen = choose(scores, self.select)
            images.append(mine[chosen])
            selections.append({"candidate_scores": scores, "chosen_candidate": chosen})
        return images, selections

    def _generate(self, prepared, prompts, slices, diffusion_generators) -> list[Image.Image]:
        size = prepared.reference.size
        if not slices:
            return self.generator.generate(
                prompts, diffusion_generators, output_sizes=[size] * len(prompts)
            )
        # Conditions that lost their slice (a digital slice link failed) generate from
        # text alone; the others use their received slice. Two calls at most.
        images: list[Image.Image | None] = [None] * len(prompts)
        with_slice = [i for i, s in enumerate(slices) if s.image is not None]
        without = [i for i, s in enumerate(slices) if s.image is None]
        for group, use_slices in ((with_slice, True), (without, False)):
            if not group:
                continue
            made = self.generator.generate(
                [prompts[i] for i in group],
                [diffusion_generators[i] for i in group],
                slices=[slices[i].image for i in group] if use_slices else None,
                output_sizes=[size] * len(group),
            )
            for i, image in zip(group, made, strict=True):
                images[i] = image
        return [image for image in images if image is not None]
