"""Choice of compute device: CUDA when present, CPU otherwise."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from multisc.errors import DeviceUnavailableError, InvalidInputError

if TYPE_CHECKING:  # torch is imported where it is used: a refused --device loads nothing
    import torch

#: what ``--device`` takes
_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")
#: where an NVIDIA driver shows itself without any library loaded
_NVIDIA = ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/nvidia0")


def check_device_name(device: object) -> None:
    """Refuse, without importing torch, a ``--device`` that cannot work: a name that is not
    ``auto``, ``cpu``, ``cuda`` or ``cuda:N``, or CUDA on a machine whose NVIDIA driver is
    absent (no ``/proc/driver/nvidia``, no ``/dev/nvidia*``). Whether torch then finds the
    GPU is [resolve_device][multisc.devices.resolve_device]'s to say."""
    if device is None or not isinstance(device, str):
        return
    if not _DEVICE.fullmatch(device):
        raise InvalidInputError(f"unknown device {device!r}: use 'cpu', 'cuda', 'cuda:N' or 'auto'")
    if device.startswith("cuda") and not any(os.path.exists(p) for p in _NVIDIA):
        raise DeviceUnavailableError(
            f"device {device!r} was requested but no CUDA GPU is available on this machine "
            "(no NVIDIA driver); use --device cpu (or auto)"
        )


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """Return the device to compute on.

    ``None`` (or ``"auto"``) picks ``cuda`` when a GPU is present, else ``cpu``. A CUDA
    device always carries its index (``cuda:0``), as Sionna's blocks require.
    Asking for ``cuda`` on a machine without one raises
    ``DeviceUnavailableError`` rather than silently falling back.
    """
    import torch

    if device is None or (isinstance(device, str) and device == "auto"):
        device = "cuda" if torch.cuda.is_available() else "cpu"
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
    if resolved.type == "cuda" and resolved.index is None:
        # with its index: Sionna's blocks accept "cuda:0", not "cuda"
        resolved = torch.device("cuda", torch.cuda.current_device())
    return resolved


def make_generator(seed: int, device: str | torch.device | None = None) -> torch.Generator:
    """A seeded ``torch.Generator`` on ``device`` (resolved as in ``resolve_device``)."""
    import torch

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


def cpu_threads(window_s: float = 0.3) -> int:
    """CPU threads worth giving torch now: the cores this process may use minus what
    *other* processes keep busy (measured from ``/proc`` over ``window_s``; the 1-minute
    load average where ``/proc`` is missing), at least 1. ``MULTISC_THREADS`` overrides it.

    Oversubscribing hurts far more than it helps: on a 2-core machine with another job
    running, 50 deep JSCC training steps took 12.5 s with one thread and 82 s with two.
    """
    override = os.environ.get("MULTISC_THREADS")
    if override:
        try:
            value = int(override)
        except ValueError as exc:
            raise InvalidInputError(
                f"MULTISC_THREADS must be a whole number of threads, got {override!r}"
            ) from exc
        if value < 1:
            raise InvalidInputError(f"MULTISC_THREADS must be at least 1, got {value}")
        return value
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    busy = _other_processes_busy(window_s)
    return max(1, min(cores, round(cores - busy)))


def _cpu_jiffies() -> tuple[int, int]:
    """(busy jiffies of the whole machine, jiffies of this process) from ``/proc``."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    busy = sum(fields) - fields[3] - (fields[4] if len(fields) > 4 else 0)  # minus idle, iowait
    with open("/proc/self/stat") as f:
        own = f.read().rsplit(")", 1)[1].split()
    return busy, int(own[11]) + int(own[12])  # utime + stime


def _other_processes_busy(window_s: float) -> float:
    """Cores kept busy by other processes (machine-wide, all CPUs)."""
    import time

    try:
        busy0, own0 = _cpu_jiffies()
        time.sleep(window_s)
        busy1, own1 = _cpu_jiffies()
    except (OSError, ValueError, IndexError):
        try:
            return os.getloadavg()[0]
        except (AttributeError, OSError):
            return 0.0
    ticks = os.sysconf("SC_CLK_TCK") * window_s
    return max(0.0, ((busy1 - busy0) - (own1 - own0)) / ticks)


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[int]:
    """Run the block with torch using ``threads`` intra-op CPU threads, then restore."""
    if threads < 1:
        raise InvalidInputError(f"threads must be at least 1, got {threads}")
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield threads
    finally:
        torch.set_num_threads(previous)


#: the thread-count variables of torch's OpenMP, MKL and OpenBLAS (read by child processes:
#: Ray workers, subprocesses) and multisc's own
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MULTISC_THREADS")


def pin_threads(threads: int) -> int:
    """Use ``threads`` CPU threads from now on: torch's intra-op pool here, and the
    OpenMP/MKL/OpenBLAS variables every child process (Ray workers, subprocesses) reads.
    On a machine another job shares, fewer threads than cores avoid oversubscription (see
    ``cpu_threads``).

    :returns: ``threads``.
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise InvalidInputError(f"threads must be a whole number >= 1, got {threads!r}")
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    import torch

    torch.set_num_threads(threads)
    return threads
