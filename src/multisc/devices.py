"""Choice of compute device: CUDA when present, CPU otherwise."""

from __future__ import annotations

import torch

from multisc.errors import DeviceUnavailableError, InvalidInputError


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """Return the device to compute on.

    ``None`` (or ``"auto"``) picks ``cuda`` when a GPU is present, else ``cpu``.
    Asking for ``cuda`` on a machine without one raises
    :class:`~multisc.errors.DeviceUnavailableError` rather than silently falling back.
    """
    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InvalidInputError(
            f"unknown device {device!r}: use 'cpu', 'cuda', 'cuda:N' or 'auto'"
        ) from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailableError(
            f"device {device!r} was requested but no CUDA GPU is available on this machine; "
            "use --device cpu (or auto)"
        )
    return resolved


def make_generator(seed: int, device: str | torch.device | None = None) -> torch.Generator:
    """A seeded :class:`torch.Generator` on ``device`` (resolved as in :func:`resolve_device`)."""
    return torch.Generator(device=resolve_device(device)).manual_seed(check_seed(seed))


def check_seed(seed: int) -> int:
    """``seed`` as an int in torch's range ``[0, 2**63)``, else one clear error."""
    try:
        value = int(seed)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"a seed must be an integer, got {seed!r}") from exc
    if not 0 <= value < 2**63:
        raise InvalidInputError(f"a seed must be in [0, 2**63), got {value}")
    return value
