"""What every benchmark script shares: how it names the device and prints its figures."""

from __future__ import annotations

import json
import platform
from typing import Any

import torch


def device_label(device: torch.device) -> str:
    """The GPU's name, or the CPU's architecture and thread count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.machine()}, {torch.get_num_threads()} threads)"


def emit(report: dict[str, Any], as_json: bool) -> None:
    """Print ``report`` as indented JSON, or one ``key: value`` line per figure."""
    if as_json:
        print(json.dumps(report, indent=2))
        return
    for key, value in report.items():
        print(f"{key}: {value}")
