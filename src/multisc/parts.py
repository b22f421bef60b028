"""Registries of interchangeable parts (segmenters, captioners, generators, IP-Adapters,
correctors, slice links) and the entry points that let other packages add theirs.

Each part is registered once, as a [PartSpec][multisc.parts.PartSpec]; the names configs and the
CLI accept,
what planning downloads (``needs``), ``multisc schemes list`` and the errors naming the
choices all come from the registry. A package adds a part through the entry-point group
of its registry, e.g. in its ``pyproject.toml``::

    [project.entry-points."multisc.correctors"]
    my_corrector = "my_package:CORRECTOR"      # a PartSpec, or a function returning one

Entry points are read once, on the first question; one that fails to load is reported with
a warning naming it, and the others still work. [multisc.schemes.spec][multisc.schemes.spec] reads
the
``multisc.schemes`` group with the same [load_entry_points][multisc.parts.load_entry_points].
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from multisc.errors import InvalidInputError, choices_error

T = TypeVar("T")


def load_entry_points(group: str, kind: type[T], taken: set[str]) -> dict[str, T]:
    """The objects of type ``kind`` the entry points of ``group`` name (each entry point
    gives one, or a function returning one), by their ``name``, with ``source`` set to the
    distribution that provides them; broken entry points and names in ``taken`` are
    skipped with a warning."""
    from importlib.metadata import entry_points

    found: dict[str, T] = {}
    for point in entry_points(group=group):
        try:
            value = point.load()
            item = value() if callable(value) and not isinstance(value, kind) else value
            if not isinstance(item, kind):
                raise TypeError(f"it gives {type(item).__name__}, not a {kind.__name__}")
        except Exception as exc:  # a broken plugin must not take the built-ins down
            warnings.warn(
                f"{group} plugin {point.name!r} ({point.value}) could not be loaded: {exc}",
                stacklevel=2,
            )
            continue
        name = item.name  # type: ignore[attr-defined]
        if name in taken or name in found:
            warnings.warn(
                f"{group} plugin {point.value} registers {name!r}, which exists already; ignored",
                stacklevel=2,
            )
            continue
        dist = getattr(point, "dist", None)
        found[name] = replace(item, source=dist.name if dist is not None else point.value)  # type: ignore[type-var]
    return found


@dataclass(frozen=True)
class PartSpec:
    """One interchangeable part.

    :param name: the name configs and flags use.
    :param build: what makes it (each registry says with which arguments).
    :param summary: one line: what it does.
    :param needs: pretrained components it loads (names in ``multisc.models``).
    :param info: facts of the part its role reads (a generator's default steps and
        guidance, a segmenter's published mIoU): plain JSON values.
    """

    name: str
    build: Callable[..., Any]
    summary: str
    needs: tuple[str, ...] = ()
    source: str = field(default="multisc", compare=False)
    info: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


class PartRegistry:
    """The parts of one kind: built-in ones registered in code, others by entry point."""

    def __init__(
        self, kind: str, group: str, resolve: Callable[[str], PartSpec | None] | None = None
    ) -> None:
        self.kind = kind
        self.group = group
        #: names outside the registry that still name a part (a trained captioner's
        #: ``path:DIR``): ``resolve(name)`` gives its spec, or ``None``
        self.resolve = resolve
        self._builtin: dict[str, PartSpec] = {}
        self._plugins: dict[str, PartSpec] | None = None

    def register(self, spec: PartSpec) -> PartSpec:
        if spec.name in self._builtin:
            raise InvalidInputError(f"{self.kind} {spec.name!r} is registered twice")
        self._builtin[spec.name] = spec
        return spec

    def specs(self) -> dict[str, PartSpec]:
        if self._plugins is None:
            self._plugins = load_entry_points(self.group, PartSpec, set(self._builtin))
        return {**self._builtin, **self._plugins}

    def names(self) -> tuple[str, ...]:
        return tuple(self.specs())

    def get(self, name: str) -> PartSpec:
        """The part ``name``; one clear error naming the choices otherwise."""
        specs = self.specs()
        if name not in specs:
            found = self.resolve(name) if self.resolve is not None else None
            if found is not None:
                return found
            raise choices_error(self.kind, name, list(specs))
        return specs[name]

    def refresh(self) -> None:
        """Read the entry points again (after installing a plugin into a running process)."""
        self._plugins = None

    def describe(self) -> list[dict[str, Any]]:
        """Each part's name, summary, needs, source and facts (``multisc schemes list``)."""
        return [
            {
                "name": s.name,
                "summary": s.summary,
                "needs": list(s.needs),
                "source": s.source,
                **({"info": dict(s.info)} if s.info else {}),
            }
            for s in self.specs().values()
        ]
