"""Training deep JSCC: random crops, Adam with cosine decay, MSE, the channel inside the
graph (at one SNR, or an SNR drawn per step from a range); resumable.

A training directory holds the checkpoint (``model.safetensors`` + ``config.json``) and
``training_state.pt`` (step, optimiser, random generators), written atomically every
``checkpoint_every`` steps: a run killed at any moment restarts from its last checkpoint.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from multisc import atomic
from multisc.channel import ChannelSpec
from multisc.codecs.jscc import DeepJSCC, JSCCConfig, read_config, save_checkpoint
from multisc.devices import cpu_threads, resolve_device, torch_threads
from multisc.errors import InvalidInputError
from multisc.imaging import to_tensor

STATE_FILE = "training_state.pt"

#: The training recipe's version: raise it whenever what ``train_jscc`` produces for the same
#: arguments changes (model, loss, data pipeline, checkpoint format), so that checkpoints
#: cached by an older recipe are not taken for new ones.
#: 2: three more natural training photos, cosine learning-rate decay, SNR ranges.
RECIPE_VERSION = 2

#: progress(step, total_steps, loss, psnr_db) is called after every step.
ProgressFn = Callable[[int, int, float, float], None]


@dataclass(frozen=True)
class TrainingResult:
    """Where the checkpoint is and how training ended."""

    directory: Path
    steps: int
    resumed_from: int
    final_loss: float
    final_psnr_db: float


def _crop_pool(images: Sequence[Image.Image], crop: int) -> list[torch.Tensor]:
    pool = []
    for image in images:
        x = to_tensor(image)
        short = min(x.shape[-2:])
        if short < crop:  # upscale small images so that a crop fits
            scale = crop / short
            size = (math.ceil(x.shape[-2] * scale), math.ceil(x.shape[-1] * scale))
            x = torch.nn.functional.interpolate(x[None], size=size, mode="bilinear")[0]
        pool.append(x)
    return pool


def _random_batch(
    pool: list[torch.Tensor], batch: int, crop: int, rng: random.Random
) -> torch.Tensor:
    crops = []
    for _ in range(batch):
        x = pool[rng.randrange(len(pool))]
        top = rng.randrange(x.shape[-2] - crop + 1)
        left = rng.randrange(x.shape[-1] - crop + 1)
        patch = x[:, top : top + crop, left : left + crop]
        if rng.random() < 0.5:
            patch = patch.flip(-1)
        crops.append(patch)
    return torch.stack(crops)


def learning_rate(step: int, steps: int, lr: float) -> float:
    """Cosine decay from ``lr`` at step 1 to ``lr / 100`` at the last step."""
    progress = (step - 1) / max(steps - 1, 1)
    return lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress)))


def train_jscc(
    images: Sequence[Image.Image],
    config: JSCCConfig,
    out: str | Path,
    *,
    steps: int = 2000,
    batch: int = 16,
    crop: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    checkpoint_every: int = 100,
    device: str | torch.device | None = None,
    threads: int | None = None,
    progress: ProgressFn | None = None,
    data: str = "",
) -> TrainingResult:
    """Train (or resume training) a deep JSCC model at ``config.train_snr_db``: one SNR,
    or for a range ``(low, high)`` an SNR drawn uniformly per step.

    :param images: training images (any size; random ``crop`` x ``crop`` patches are used).
    :param out: checkpoint directory; if it holds an unfinished run of the same config,
        training resumes from its last checkpoint. The learning rate follows
        [learning_rate][multisc.codecs.jscc_training.learning_rate] over ``steps``, so resume with
        the same ``steps``.
    :param threads: CPU threads for torch (see ``multisc.devices.cpu_threads``;
        ``None`` = the cores the machine's load leaves free).
    :param data: a name for ``images`` kept in the checkpoint's training record.
    """
    if not images:
        raise InvalidInputError("no training images given")
    if steps < 1 or batch < 1:
        raise InvalidInputError(f"steps and batch must be >= 1, got {steps} and {batch}")
    if crop < 4 or crop % 4:
        raise InvalidInputError(f"crop must be a multiple of 4 and >= 4, got {crop}")
    if not (math.isfinite(lr) and lr > 0):
        raise InvalidInputError(f"the learning rate must be a positive number, got {lr}")
    out = Path(out)
    device = resolve_device(device)
    with torch_threads(threads if threads is not None else cpu_threads()):
        return _train(
            images,
            config,
            out,
            steps,
            batch,
            crop,
            lr,
            seed,
            checkpoint_every,
            device,
            progress,
            data,
        )


def _train(
    images, config, out, steps, batch, crop, lr, seed, checkpoint_every, device, progress, data
) -> TrainingResult:
    with torch.random.fork_rng(devices=[]):  # seeded initial weights, global RNG untouched
        torch.manual_seed(seed)
        model = DeepJSCC(config).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    rng = random.Random(seed)
    generator = torch.Generator(device=device).manual_seed(seed)
    start = 0

    state_path = out / STATE_FILE
    if state_path.is_file():
        existing = read_config(out)
        if existing != config:
            raise InvalidInputError(
                f"{out} holds a deep JSCC run for {existing.label}, not {config.label}; "
                "choose another --out or delete that directory"
            )
        try:
            state = torch.load(state_path, map_location="cpu", weights_only=True)
            step, optimiser_state = int(state["step"]), state["optimiser"]
        except Exception as exc:  # zip/pickle errors, or a file of something else
            raise InvalidInputError(
                f"{state_path} is not a training state multisc wrote ({type(exc).__name__}); "
                "delete it to train from the checkpoint's start, or choose another --out"
            ) from exc
        from safetensors.torch import load_file

        model.load_state_dict(load_file(str(out / "model.safetensors")))
        optimiser.load_state_dict(optimiser_state)
        rng.setstate(_rng_state_from_tensor(state["crop_rng"]))
        generator.set_state(state["noise_rng"])
        start = step

    pool = _crop_pool(images, crop)
    record = {
        "recipe": RECIPE_VERSION,
        "steps": steps,
        "batch": batch,
        "crop": crop,
        "lr": lr,
        "seed": seed,
        "data": data or f"{len(images)} images",
    }
    snr = config.train_snr_db
    loss_value = psnr = float("nan")
    model.train()
    for step in range(start + 1, steps + 1):
        x = _random_batch(pool, batch, crop, rng).to(device)
        snr_db = rng.uniform(*snr) if isinstance(snr, tuple) else snr
        spec = ChannelSpec(snr_db, fading=config.fading)  # type: ignore[arg-type]
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(step, steps, lr)
        x_hat, _ = model(x, spec, generator)
        loss = torch.nn.functional.mse_loss(x_hat, x)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        loss_value = loss.item()
        psnr = 10 * math.log10(1.0 / max(loss_value, 1e-12))
        if progress is not None:
            progress(step, steps, loss_value, psnr)
        if step % checkpoint_every == 0 or step == steps:
            _save_state(model, optimiser, rng, generator, step, out, {**record, "done": step})
    model.eval()
    return TrainingResult(out, steps, start, loss_value, psnr)


def _save_state(
    model: DeepJSCC,
    optimiser: torch.optim.Optimizer,
    rng: random.Random,
    generator: torch.Generator,
    step: int,
    out: Path,
    record: dict,
) -> None:
    # Weights first, state last: a kill between the two leaves a state that points at
    # weights at least as new, and the next run repeats at most checkpoint_every steps.
    save_checkpoint(model, out, record)
    state = {
        "step": step,
        "optimiser": optimiser.state_dict(),
        "crop_rng": _rng_state_to_tensor(rng.getstate()),
        "noise_rng": generator.get_state(),
    }
    with atomic.replacing(out / STATE_FILE) as tmp:
        torch.save(state, tmp)


def _rng_state_to_tensor(state: tuple) -> torch.Tensor:
    # random.Random's state is (version, tuple of 625 ints, gauss_next); store the ints
    # as a tensor so that torch.load(weights_only=True) can read it back.
    version, internal, _gauss_next = state  # gauss_next unused: we never call rng.gauss
    return torch.tensor([version, *internal], dtype=torch.int64)


def _rng_state_from_tensor(tensor: torch.Tensor) -> tuple:
    values = [int(v) for v in tensor.tolist()]
    return (values[0], tuple(values[1:]), None)
