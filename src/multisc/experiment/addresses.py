"""Where a Ray run connects, checked in seconds before any work: ``--address`` (a flag), or
``RAY_ADDRESS`` (the environment, which Ray reads even without the flag), or ``auto`` (the
cluster ``ray start`` left on this machine). Ray itself retries an address where nothing
listens for minutes, and raises tracebacks for a malformed one; here each is one line
naming where the address came from. Light to import (no Ray, no torch)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from multisc.errors import InvalidInputError

#: seconds an address has to accept a connection before the run is refused
ADDRESS_TIMEOUT_S = 5.0
#: where ``ray start --head`` records the running cluster's address (Ray's own file)
CURRENT_CLUSTER = Path("/tmp/ray/ray_current_cluster")


def check_ray_address(address: str | None) -> None:
    """Refuse, within ``ADDRESS_TIMEOUT_S``, an address Ray could not join.

    ``None``: Ray starts a local instance, unless ``RAY_ADDRESS`` names a cluster (then
    that is checked); ``auto``: ``RAY_ADDRESS``, else the cluster ``ray start`` recorded
    here (none: refused); ``host:port`` or ``ray://host:port``: something must accept a
    connection there.

    Raises:
        InvalidInputError: one line naming the address, where it came from and what to do.
    """
    env = os.environ.get("RAY_ADDRESS", "").strip()
    if address in (None, "local"):
        if env and env not in ("local",):
            _reachable(env, "RAY_ADDRESS (environment)")
        return
    if address == "auto":
        if env and env not in ("auto", "local"):
            _reachable(env, "RAY_ADDRESS (environment, for --address auto)")
            return
        recorded = _recorded()
        if recorded is None:
            raise InvalidInputError(
                "--address auto: no Ray cluster is running on this machine; start one "
                "(`ray start --head`) or leave --address out to start Ray for this run"
            )
        _reachable(recorded, f"--address auto ({CURRENT_CLUSTER})")
        return
    _reachable(address, "--address")


def _recorded() -> str | None:
    try:
        if CURRENT_CLUSTER.is_file() and not CURRENT_CLUSTER.is_symlink():
            text = CURRENT_CLUSTER.read_text(encoding="utf-8", errors="replace")[:300].strip()
            return text or None
    except OSError:
        return None
    return None


def _reachable(address: str, source: str) -> None:
    bare = address.removeprefix("ray://")
    host, _, port = bare.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536 or len(bare) > 300:
        raise InvalidInputError(
            f"{source} {address[:100]!r} is not host:port (or ray://host:port, or auto)"
        )
    try:
        with socket.create_connection((host, int(port)), ADDRESS_TIMEOUT_S):
            pass
    except UnicodeError:  # a label over 63 characters, an empty label ("a..b")
        raise InvalidInputError(
            f"{source} {address[:100]!r}: {host[:80]!r} is not a host name"
        ) from None
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise InvalidInputError(
            f"{source} {address}: nothing answers there ({reason}); start the cluster "
            "(`ray start --head`) and give the address it prints, or leave --address out "
            "(and RAY_ADDRESS unset) to start Ray here"
        ) from None
