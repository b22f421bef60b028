"""``multisc captioner train``: fine-tune a LLaVA-class captioner as LLaVA does, on one CPU,
one GPU or several (``torchrun --nproc_per_node N``: DDP, gloo on CPUs, NCCL on GPUs).

Modes (``MODES``): ``projector`` (only the multimodal
projector trains: LLaVA's stage 1), ``lora`` (``peft`` LoRA adapters on the language
model, the projector trainable or frozen) and ``full`` (language model and projector, the
vision tower frozen: LLaVA's stage 2).

The optimisation is defined by the global batch, whatever the processes: step ``s`` takes
the records ``s·G .. (s+1)·G`` of the epoch's seeded permutation, each process its
contiguous share, in micro-batches of ``batch`` (gradient accumulation fills the rest);
the loss is the sum of token losses over the whole global batch divided by its scored
tokens, so one process and two with the same global batch compute the same gradient
(within float rounding). A checkpoint holds the trainable weights, the optimizer, the
schedule, the random states and the step: the data position follows from the step, so a
resumed run continues exactly as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from multisc.captioner.checkpoints import CHECKPOINTS, METRICS_FILE
from multisc.captioner.train_data import read_records
from multisc.captioner.train_format import IGNORE, Formatter, collate
from multisc.errors import InvalidInputError, TrainingInterrupted

MODES = ("projector", "lora", "full")
#: parameter-name parts of each part of a VLM (LLaVA; Idefics3/SmolVLM)
PROJECTOR = ("multi_modal_projector", "connector")
VISION = ("vision_tower", "vision_model")
#: LLaVA-1.5's published defaults per mode: learning rate, global batch
DEFAULTS = {"projector": (1e-3, 256), "lora": (2e-4, 128), "full": (2e-5, 128)}


@dataclass
class TrainSettings:
    """How to train; ``None`` fields take the mode's LLaVA-1.5 default
    (``DEFAULTS``; style ``plain`` for ``projector``,
    ``chat`` otherwise)."""

    mode: str = "lora"
    style: str | None = None
    learning_rate: float | None = None
    global_batch: int | None = None
    batch: int = 1
    epochs: float = 1.0
    max_steps: int | None = None
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    max_length: int = 2048
    seed: int = 0
    lora_rank: int = 128
    lora_alpha: int = 256
    lora_dropout: float = 0.05
    lora_targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    train_projector: bool = True
    save: str = "merged"
    checkpoint_every: int = 50
    gradient_checkpointing: bool = False
    precision: str = "auto"
    on_bad_record: str = "skip"

    def resolved(self) -> TrainSettings:
        if self.mode not in MODES:
            raise InvalidInputError(f"--mode is one of {', '.join(MODES)}, got {self.mode!r}")
        if self.save not in ("merged", "adapter") or (
            self.save == "adapter" and self.mode != "lora"
        ):
            raise InvalidInputError("--save is merged, or adapter (with --mode lora)")
        if self.precision not in ("auto", "fp32", "bf16", "fp16"):
            raise InvalidInputError(f"--precision is auto, fp32, bf16 or fp16: {self.precision!r}")
        lr, batch = DEFAULTS[self.mode]
        out = TrainSettings(**{**asdict(self), "lora_targets": tuple(self.lora_targets)})
        out.learning_rate = self.learning_rate or lr
        out.global_batch = self.global_batch or batch
        out.style = self.style or ("plain" if self.mode == "projector" else "chat")
        return out


@dataclass
class TrainResult:
    """What a training run did: its folder, steps, the loss per step (of the whole global
    batch), wall seconds of this session, and the device and processes it ran on."""

    out: Path
    steps: int
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    device: str = "cpu"
    world_size: int = 1
    bad_records: list[str] = field(default_factory=list)
    #: the trained model in memory (a ``peft`` model in ``lora`` mode; merged, its
    #: adapters are folded in)
    model: Any = field(default=None, repr=False)
    #: the parameters that trained
    trainable: int = 0


def _named(name: str, parts: tuple[str, ...]) -> bool:
    return any(f"{p}." in f"{name}." for p in parts)


def prepare_model(model: torch.nn.Module, settings: TrainSettings) -> torch.nn.Module:
    """``model`` with only the mode's parameters trainable (the vision tower never):
    ``projector``: the projector; ``full``: everything but the vision tower; ``lora``:
    LoRA adapters on the language model's ``lora_targets`` (through ``peft``), and the
    projector when ``train_projector``."""
    for name, parameter in model.named_parameters():
        trainable = _named(name, PROJECTOR) if settings.mode == "projector" else False
        if settings.mode == "full":
            trainable = not _named(name, VISION)
        parameter.requires_grad_(trainable)
    if settings.mode == "lora":
        from peft import LoraConfig, get_peft_model

        targets = "|".join(settings.lora_targets)
        config = LoraConfig(
            r=settings.lora_rank, lora_alpha=settings.lora_alpha,
            lora_dropout=settings.lora_dropout,
            target_modules=rf".*language_model.*\.({targets})",
            modules_to_save=list(PROJECTOR[:1]) if settings.train_projector else None,
        )  # fmt: skip
        model = get_peft_model(model, config)
    if settings.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    return model


def _world() -> tuple[int, int]:
    """(rank, world size) of this process: from torchrun's environment, else (0, 1)."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def _token_loss(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """The sum of the batch's token losses (next-token cross-entropy on scored labels) and
    the number of tokens scored."""
    labels = batch.pop("labels")
    logits = model(**batch).logits.float()
    shifted = labels[:, 1:]
    loss = torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]), shifted.reshape(-1),
        ignore_index=IGNORE, reduction="sum",
    )  # fmt: skip
    return loss, int((shifted != IGNORE).sum())


def train(
    base: str,
    data: str | Path,
    out: str | Path,
    settings: TrainSettings,
    models_dir: str | Path | None = None,
    device: Any = None,
    image_root: str | Path | None = None,
    on_step: Callable[[dict[str, Any]], None] | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> TrainResult:
    """Train captioner ``base`` (a registered name, or ``path:DIR``) on ``data`` into
    ``out``, resuming from ``out``'s latest checkpoint when there is one.

    :param on_step: called after each optimizer step with its log entry (``step``,
        ``loss``, ``learning_rate``, ``seconds``, ``samples_per_second``); a
        ``KeyboardInterrupt`` raised there (or Ctrl-C) saves a checkpoint and raises
        ``multisc.errors.TrainingInterrupted``.
    :returns: what was done ([TrainResult][multisc.captioner.training.TrainResult]).
    """
    from multisc.captioner import checkpoints
    from multisc.devices import resolve_device
    from multisc.transmitter import trained
    from multisc.transmitter.captioners import CAPTIONER_REGISTRY

    settings = settings.resolved()
    rank, world = _world()
    device = resolve_device(device)
    if world > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            torch.cuda.set_device(device)
    out = Path(out)
    records = read_records(data, image_root, on_bad=settings.on_bad_record)
    for line in records.report():
        say(f"skipped {line}")
    captioner = trained.load_base(base, CAPTIONER_REGISTRY, models_dir, device)
    processor = captioner.processor
    G, b = settings.global_batch, settings.batch
    if G % (b * world):
        raise InvalidInputError(
            f"--global-batch {G} is not a multiple of --batch {b} x {world} process(es)"
        )
    accumulation = G // (b * world)
    per_epoch = len(records.kept) // G
    if per_epoch == 0:
        raise InvalidInputError(
            f"{len(records.kept)} usable records: fewer than one global batch of {G}"
        )
    total = settings.max_steps or max(1, math.ceil(settings.epochs * per_epoch))
    model = prepare_model(captioner.model.float().train(), settings)
    model.to(device)
    dtype = _autocast_dtype(settings.precision, device)
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        parameters, lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    from transformers import get_cosine_schedule_with_warmup

    schedule = get_cosine_schedule_with_warmup(
        optimizer, math.ceil(settings.warmup_ratio * total), total
    )
    torch.manual_seed(settings.seed + rank)
    start, losses = checkpoints.resume(out, model, optimizer, schedule, rank)
    if start:
        say(f"resuming at step {start} of {total} from {out / CHECKPOINTS}")
    wrapped = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        wrapped = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    formatter = Formatter(processor, settings.style, settings.max_length)
    pad = processor.tokenizer.pad_token_id
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    board = _tensorboard(out) if rank == 0 else None
    began = time.perf_counter()
    step = start
    try:
        for step in range(start, total):
            started = time.perf_counter()
            epoch, within = divmod(step, per_epoch)
            order = torch.randperm(
                len(records.kept), generator=torch.Generator().manual_seed(settings.seed + epoch)
            )
            chosen = order[within * G : (within + 1) * G].tolist()
            share = G // world
            mine = [formatter(records.kept[i]) for i in chosen[rank * share : (rank + 1) * share]]
            counts = torch.tensor([sum(e.scored for e in mine)], dtype=torch.float64)
            summed = torch.zeros(1, dtype=torch.float64)
            if world > 1:
                torch.distributed.all_reduce(counts)
            scored = max(float(counts.item()), 1.0)
            for k in range(accumulation):
                batch = collate(mine[k * b : (k + 1) * b], pad)
                batch = {key: value.to(device) for key, value in batch.items()}
                if "pixel_values" in batch:
                    batch["pixel_values"] = batch["pixel_values"].float()
                sync = k == accumulation - 1 or world == 1
                context = contextlib.nullcontext() if sync else wrapped.no_sync()
                with (
                    context,
                    torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32),
                ):
                    loss, _ = _token_loss(wrapped, batch)
                summed += loss.detach().double().cpu()
                scaled = loss * world / scored  # DDP averages over processes
                (scaler.scale(scaled) if scaler else scaled).backward()
            if world > 1:
                torch.distributed.all_reduce(summed)
            if scaler:
                scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(parameters, settings.max_grad_norm)
            if scaler:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            seconds = time.perf_counter() - started
            entry = {
                "step": step + 1, "loss": float(summed.item() / scored),
                "learning_rate": schedule.get_last_lr()[0], "seconds": seconds,
                "samples_per_second": G / seconds if seconds > 0 else None,
                "tokens": int(scored), "total": total,
            }  # fmt: skip
            losses.append(entry["loss"])
            if rank == 0:
                with (out / METRICS_FILE).open("a", encoding="utf-8") as log:
                    log.write(json.dumps(entry) + "\n")
                if board is not None:
                    for key in ("loss", "learning_rate", "samples_per_second"):
                        if entry[key] is not None:
                            board.add_scalar(f"train/{key}", entry[key], entry["step"])
            if (step + 1) % settings.checkpoint_every == 0 and step + 1 < total:
                checkpoints.save_checkpoint(
                    out, model, optimizer, schedule, step + 1, rank, world > 1
                )
            if on_step is not None:
                on_step(entry)
    except KeyboardInterrupt as exc:
        done = len(losses)  # steps whose entry was written
        where = checkpoints.save_checkpoint(out, model, optimizer, schedule, done, rank, False)
        from multisc.errors import Terminated

        raise TrainingInterrupted(
            done, total, str(where), terminated=isinstance(exc, Terminated)
        ) from None
    seconds = time.perf_counter() - began
    if board is not None:
        board.close()
    result = TrainResult(out, total, losses, seconds, str(device), world, records.report(), model,
                         sum(p.numel() for p in parameters))  # fmt: skip
    if rank == 0:
        checkpoints.save_trained(out, model, captioner, base, settings, records, result)
    if world > 1:
        torch.distributed.barrier()
    return result


def _tensorboard(out: Path):
    """A TensorBoard writer into ``out/tensorboard`` where TensorBoard is installed, else
    ``None`` (``metrics.jsonl`` has the same figures)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(out / "tensorboard"))


def _autocast_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The compute dtype: fp32 on CPUs and for ``fp32``; on CUDA ``auto`` is bf16 where the
    GPU has it, else fp16 (with loss scaling)."""
    if device.type != "cuda" or precision == "fp32":
        return torch.float32
    if precision == "bf16" or (precision == "auto" and torch.cuda.is_bf16_supported()):
        return torch.bfloat16
    return torch.float16
