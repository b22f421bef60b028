"""The pretrained parts a scheme is built from, one registry per role, and the options that
name their entries.

Each registry lives beside the code it registers
([segmenters][multisc.transmitter.segmenters], [captioners][multisc.transmitter.captioners],
[generators][multisc.receiver.generators], [ip_adapters][multisc.receiver.ip_adapters]) and
takes plugins through its entry-point group (``multisc.segmenters``, ``multisc.captioners``,
``multisc.generators``, ``multisc.ip_adapters``). Light to import (no torch): options are
checked, ``multisc schemes list`` and ``multisc models list`` answer, from here.
"""

from __future__ import annotations

from typing import Any

from multisc.parts import PartRegistry
from multisc.receiver.generators import GENERATOR_REGISTRY
from multisc.receiver.ip_adapters import IP_ADAPTER_REGISTRY
from multisc.transmitter.captioners import CAPTIONER_REGISTRY
from multisc.transmitter.segmenters import SEGMENTER_REGISTRY

#: role -> its registry
ROLES: dict[str, PartRegistry] = {
    "segmenter": SEGMENTER_REGISTRY,
    "captioner": CAPTIONER_REGISTRY,
    "generator": GENERATOR_REGISTRY,
    "ip_adapter": IP_ADAPTER_REGISTRY,
}
#: scheme option -> the role whose entry it names (VLM-CSC has its own captioner option)
ROLE_OPTIONS: dict[str, str] = {
    "segmenter": "segmenter",
    "captioner": "captioner",
    "vlm_captioner": "captioner",
    "generator": "generator",
    "ip_adapter": "ip_adapter",
}


def part_needs(role: str, name: str) -> tuple[str, ...]:
    """The pretrained components (names in ``multisc.models``) entry ``name`` of ``role``
    loads."""
    return ROLES[role].get(name).needs


def describe_roles() -> dict[str, list[dict[str, Any]]]:
    """Every registered entry of every role: name, summary, needs, source and facts."""
    return {role: registry.describe() for role, registry in ROLES.items()}


def refresh_roles() -> None:
    """Read every role's entry points again (after installing a plugin into a process)."""
    for registry in ROLES.values():
        registry.refresh()
