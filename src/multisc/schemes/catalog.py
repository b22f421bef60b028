"""Every scheme there is: the built-in ones, those registered in this process and those of
plugins (entry-point group ``multisc.schemes``), read together on the first question.

Light to import (no torch, no Sionna): the names a run accepts, config checks and
``multisc schemes list`` come from here."""

from __future__ import annotations

from multisc.errors import InvalidInputError, choices_error, did_you_mean
from multisc.schemes.builtin import BUILTIN_SCHEMES
from multisc.schemes.spec import ENTRY_POINT_GROUP, REGISTERED, SchemeSpec

_PLUGINS: dict[str, SchemeSpec] | None = None


def _load_plugins() -> dict[str, SchemeSpec]:
    from multisc.parts import load_entry_points

    taken = {spec.name for spec in BUILTIN_SCHEMES} | set(REGISTERED)
    return load_entry_points(ENTRY_POINT_GROUP, SchemeSpec, taken)


def scheme_specs() -> dict[str, SchemeSpec]:
    """Every scheme, built-in, registered here and from plugins, in report order."""
    global _PLUGINS
    if _PLUGINS is None:
        _PLUGINS = _load_plugins()
    builtin = {spec.name: spec for spec in BUILTIN_SCHEMES}
    clash = sorted(set(builtin) & set(REGISTERED))
    if clash:
        raise InvalidInputError(f"scheme {clash[0]!r} is built in: register it under another name")
    every = {**builtin, **REGISTERED, **_PLUGINS}
    return dict(sorted(every.items(), key=lambda item: (item[1].order, item[0])))


def scheme_names() -> tuple[str, ...]:
    """The names a run accepts, in report order."""
    return tuple(scheme_specs())


def get_spec(name: str) -> SchemeSpec:
    """The registration of ``name``; one clear error naming the choices otherwise."""
    specs = scheme_specs()
    if name not in specs:
        error = choices_error("scheme", name, list(specs))
        raise type(error)(f"{error}{did_you_mean(name, list(specs))}")
    return specs[name]


def refresh_plugins() -> None:
    """Read the entry points again (after installing a plugin into a running process)."""
    global _PLUGINS
    _PLUGINS = None
