"""Fine-tuning a BART seq2seq corrector on (noisy, clean) pairs: a plain PyTorch loop.

The output directory is a normal ``save_pretrained`` model + tokenizer, so
``--models DIR`` (as ``DIR/corrector``) or ``BartCorrector`` loads it like any other
corrector; ``training_state.pt`` beside it (optimiser, step, random state) makes a killed
run resume where its last checkpoint was.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from multisc import atomic
from multisc.correction_tuning.pairs import Pair
from multisc.decoding import state_settings
from multisc.devices import resolve_device
from multisc.errors import InvalidInputError
from multisc.models import load_pretrained

STATE_FILE = "training_state.pt"

#: progress(step, total, train_loss, heldout_loss or None)
ProgressFn = Callable[[int, int, float, float | None], None]


@dataclass(frozen=True)
class CorrectorTraining:
    out: Path
    steps: int
    resumed_from: int
    final_loss: float
    heldout_loss: float | None
    truncated: int


def load_base(base: str | Path | None, device: torch.device):
    """(model, tokenizer): ``base`` as a directory or hub id, or the registry's corrector."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    if base is None:
        model = load_pretrained("corrector", AutoModelForSeq2SeqLM.from_pretrained)
        tokenizer = load_pretrained("corrector", AutoTokenizer.from_pretrained)
    else:
        source = str(base)
        local = Path(source).is_dir()
        try:
            model = AutoModelForSeq2SeqLM.from_pretrained(source, local_files_only=local)
            tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local)
        except (OSError, ValueError) as exc:
            from multisc.models import missing_error

            raise missing_error("corrector", source, exc) from exc
    return model.to(device), tokenizer


def _batches(pairs: Sequence[Pair], batch: int, rng: random.Random):
    order = list(range(len(pairs)))
    while True:
        rng.shuffle(order)
        for start in range(0, len(order) - batch + 1 if len(order) >= batch else 1, batch):
            yield [pairs[i] for i in order[start : start + batch]]


def _encode(tokenizer, pairs: Sequence[Pair], max_length: int, device):
    inputs = tokenizer(
        [p.noisy for p in pairs],
        return_tensors="pt",
        padding=True,
        truncation=True,
        max_length=max_length,
    )
    labels = tokenizer(
        text_target=[p.clean for p in pairs],
        return_tensors="pt",
        padding=True,
        truncation=True,
        max_length=max_length,
    )["input_ids"]
    labels[labels == tokenizer.pad_token_id] = -100  # no loss on padding
    return inputs.to(device), labels.to(device)


def count_truncated(tokenizer, pairs: Sequence[Pair], max_length: int) -> int:
    """Pairs whose noisy or clean text is longer than ``max_length`` tokens."""
    count = 0
    for pair in pairs:
        longest = max(
            len(tokenizer(pair.noisy)["input_ids"]), len(tokenizer(pair.clean)["input_ids"])
        )
        count += longest > max_length
    return count


@torch.no_grad()
def heldout_loss(
    model, tokenizer, pairs: Sequence[Pair], max_length: int, device, batch: int = 32
) -> float:
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(pairs), batch):
        chunk = pairs[start : start + batch]
        inputs, labels = _encode(tokenizer, chunk, max_length, device)
        total += float(model(**inputs, labels=labels).loss) * len(chunk)
        count += len(chunk)
    model.train()
    return total / max(count, 1)


def train_corrector(
    train: Sequence[Pair],
    heldout: Sequence[Pair],
    out: str | Path,
    *,
    base: str | Path | None = None,
    model=None,
    tokenizer=None,
    steps: int = 1000,
    batch: int = 16,
    lr: float = 5e-5,
    max_length: int = 128,
    eval_every: int = 100,
    checkpoint_every: int = 100,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: ProgressFn | None = None,
) -> CorrectorTraining:
    """Fine-tune (or continue fine-tuning) a corrector; save it with ``save_pretrained``.

    Pass ``model`` and ``tokenizer`` to train a model built in code (tests train a tiny
    BART from scratch); otherwise ``base`` (a directory or hub id, default: the registry's
    corrector) is loaded. A directory ``out`` holding ``training_state.pt`` resumes.
    """
    if not train:
        raise InvalidInputError("no training pairs")
    if steps < 1 or batch < 1:
        raise InvalidInputError(f"steps and batch must be >= 1, got {steps} and {batch}")
    out = Path(out)
    device = resolve_device(device)
    state_path = out / STATE_FILE
    resume = state_path.is_file()
    if resume:
        model, tokenizer = load_base(out, device)
    elif model is None or tokenizer is None:
        model, tokenizer = load_base(base, device)
    else:
        model = model.to(device)
    model.train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr)
    rng = random.Random(seed)
    start = 0
    if resume:
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        optimiser.load_state_dict(state["optimiser"])
        start = int(state["step"])
        rng = random.Random(seed + start)  # a fresh, deterministic stream from here on
    truncated = count_truncated(tokenizer, list(train) + list(heldout), max_length)
    use_amp = device.type == "cuda"
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
    batches = _batches(train, batch, rng)
    loss_value, eval_value = float("nan"), None
    for step in range(start + 1, steps + 1):
        inputs, labels = _encode(tokenizer, next(batches), max_length, device)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
            loss = model(**inputs, labels=labels).loss
        optimiser.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimiser)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(optimiser)
        scaler.update()
        loss_value = loss.item()
        if heldout and (step % eval_every == 0 or step == steps):
            eval_value = heldout_loss(model, tokenizer, heldout, max_length, device)
        if progress is not None:
            progress(step, steps, loss_value, eval_value)
        if step % checkpoint_every == 0 or step == steps:
            _save(model, tokenizer, optimiser, step, out)
    model.eval()
    return CorrectorTraining(out, steps, start, loss_value, eval_value, truncated)


def _save(model, tokenizer, optimiser, step: int, out: Path) -> None:
    # Model first, state last: a kill in between leaves a state that points at weights at
    # least as new, so a resumed run repeats at most checkpoint_every steps.
    out.mkdir(parents=True, exist_ok=True)
    # the base repo's search settings (BART corrector: no_repeat_ngram_size 3, num_beams 4)
    # are not passed on: the saved model states plain greedy decoding
    state_settings(model)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    with atomic.replacing(out / STATE_FILE) as tmp:
        torch.save({"step": step, "optimiser": optimiser.state_dict()}, tmp)
