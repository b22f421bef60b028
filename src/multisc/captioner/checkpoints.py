"""Checkpoints of ``multisc captioner train`` and the trained captioner it writes at the
end (loaded by [multisc.transmitter.trained][multisc.transmitter.trained]).

``DIR/checkpoints/step-N`` holds the trainable weights (safetensors), the optimizer, the
schedule, the step and each process's random state; the data position follows from the
step. Read back with ``weights_only`` loads: a folder may come from someone else.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

from multisc.errors import InvalidInputError
from multisc.transmitter.trained import FORMAT, RECORD

CHECKPOINTS = "checkpoints"
METRICS_FILE = "metrics.jsonl"


def trainable_state(model) -> dict:
    """The trainable parameters by name (what a checkpoint holds), on the CPU."""
    return {n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}


def save_trained(out: Path, model, captioner, base: str, settings, records, result) -> None:
    """Write the trained captioner into ``out`` (merged, or the LoRA adapter alone) and
    its record."""
    if settings.mode == "lora" and settings.save == "adapter":
        model.save_pretrained(str(out))
    else:
        if settings.mode == "lora":
            model = model.merge_and_unload()
        model.save_pretrained(str(out), safe_serialization=True)
        captioner.processor.save_pretrained(str(out))
    record = {
        "format": FORMAT, "version": 1, "class": type(captioner).__name__, "base": base,
        "mode": settings.mode, "saved": "adapter" if settings.save == "adapter" else "merged",
        "data_digest": records.digest, "records": len(records.kept),
        "bad_records": len(records.bad), "steps": result.steps,
        "wall_seconds": result.seconds, "device": result.device,
        "world_size": result.world_size, "final_loss": (result.losses or [None])[-1],
        "settings": {k: list(v) if isinstance(v, tuple) else v
                     for k, v in asdict(settings).items()},
    }  # fmt: skip
    (out / RECORD).write_text(json.dumps(record, indent=2))


def _checkpoints(out: Path) -> list[Path]:
    folder = out / "checkpoints"
    if not folder.is_dir() or folder.is_symlink():
        return []
    found = [p for p in folder.iterdir() if p.name.startswith("step-") and p.is_dir()]
    return sorted((p for p in found if not p.is_symlink() and p.name[5:].isdigit()),
                  key=lambda p: int(p.name[5:]))  # fmt: skip


def save_checkpoint(out: Path, model, optimizer, schedule, step: int, rank: int,
                    sync: bool) -> Path:  # fmt: skip
    """Save the trainable weights, optimizer, schedule, step and random state as
    ``out/checkpoints/step-N`` (written aside, then renamed: whole or absent); the two
    latest are kept. ``sync``: several processes (each saves its random state)."""
    import torch
    from safetensors.torch import save_file

    final = out / "checkpoints" / f"step-{step:08d}"
    aside = final.with_name(final.name + ".partial")
    if sync:
        torch.distributed.barrier()
    if rank == 0:
        shutil.rmtree(aside, ignore_errors=True)
        aside.mkdir(parents=True)
        save_file(trainable_state(model), str(aside / "trainable.safetensors"))
        torch.save(optimizer.state_dict(), aside / "optimizer.pt")
        state = {"step": step, "schedule": schedule.state_dict()}
        (aside / "state.json").write_text(json.dumps(state))
    if sync:
        torch.distributed.barrier()
    torch.save({"cpu": torch.get_rng_state()}, aside / f"rng-{rank}.pt")
    if sync:
        torch.distributed.barrier()
    if rank == 0:
        shutil.rmtree(final, ignore_errors=True)
        aside.rename(final)
        for old in _checkpoints(out)[:-2]:
            shutil.rmtree(old, ignore_errors=True)
    if sync:
        torch.distributed.barrier()
    return final


def resume(out: Path, model, optimizer, schedule, rank: int) -> tuple[int, list[float]]:
    """Load ``out``'s latest checkpoint into the model, optimizer and schedule (and this
    process's random state); return its step and the losses logged up to it (the log is
    cut there, so the resumed run's log reads as one). ``(0, [])`` with none."""
    import torch
    from safetensors.torch import load_file

    if (out / RECORD).exists():
        raise InvalidInputError(
            f"{out} holds a trained captioner already: choose another --out (or delete it)"
        )
    found = _checkpoints(out)
    step = 0
    if found:
        latest = found[-1]
        weights = load_file(str(latest / "trainable.safetensors"))
        names = {n for n, p in model.named_parameters() if p.requires_grad}
        if set(weights) != names:
            raise InvalidInputError(
                f"{latest} was saved by another training (its trainable weights differ): "
                "choose another --out"
            )
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if name in weights:
                    parameter.copy_(weights[name])
        optimizer.load_state_dict(torch.load(latest / "optimizer.pt", weights_only=True))
        state = json.loads((latest / "state.json").read_text(encoding="utf-8"))
        schedule.load_state_dict(state["schedule"])
        step = int(state["step"])
        rng = latest / f"rng-{rank}.pt"
        if rng.is_file():
            torch.set_rng_state(torch.load(rng, weights_only=True)["cpu"])
    losses: list[float] = []
    log = out / METRICS_FILE
    if log.is_file() and not log.is_symlink():
        lines = [
            json.loads(line)
            for line in log.read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
        kept = [line for line in lines if int(line.get("step", 0)) <= step]
        losses = [float(line["loss"]) for line in kept]
        if rank == 0:
            log.write_text("".join(json.dumps(line) + "\n" for line in kept))
    return step, losses
