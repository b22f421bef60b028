"""One registration per scheme: everything else (the names a run accepts, what planning
downloads, the report's order and text rows, the CLI's help, ``multisc schemes list``, the
tests' parameter lists) is derived from it.

A scheme from another package registers itself through the entry-point group
``multisc.schemes``: the entry point names a [SchemeSpec][multisc.schemes.spec.SchemeSpec] (or a
function returning
one), e.g. in that package's ``pyproject.toml``::

    [project.entry-points."multisc.schemes"]
    img2img_sc = "img2img_sc:SPEC"

Entry points are read once, on the first question about schemes; one that fails to load
is reported with a warning naming it, and the others still work.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from multisc.errors import InvalidInputError

if TYPE_CHECKING:
    from multisc.schemes.options import SchemeOptions
    from multisc.schemes.registry import Components

ENTRY_POINT_GROUP = "multisc.schemes"


@dataclass(frozen=True)
class SchemeSpec:
    """What a scheme is, for everything that is not its own code.

    :param name: the name runs, configs and the CLI use (``[a-z0-9_]``).
    :param build: ``build(components) -> scheme`` (``prepare``/``transmit``); read its
        settings from ``components.options``. Or ``"module:function"`` naming it, imported
        when the scheme is built (how the built-in schemes keep listing them light).
    :param summary: one line: what travels and how the receiver rebuilds it.
    :param needs: pretrained components it loads (names in ``multisc.models``), or a
        function of the options returning them (e.g. only with the BART corrector).
    :param options: the [SchemeOptions][multisc.schemes.options.SchemeOptions] fields it reads;
        a config sets them for all schemes (``options: {steps: 20}``) or for this scheme
        alone (``options: {NAME: {steps: 20}}``).
    :param semantic: it sends texts (the report shows sent/received/corrected texts).
    :param order: position in reports and lists (lower first; plugins default to 100).
    :param budget: it takes a channel-use budget (``options.budget``).
    :param settings: a dataclass of the scheme's own settings (defaults on every field;
        ``metadata={"help": ...}`` documents one): configs give them as
        ``options: {NAME: {...}}``, the scheme reads ``components.options.settings(NAME)``.
    :param prepared_types: the dataclasses its ``prepare`` returns, for the prepare cache's
        allow-list (a run directory never holds anything else).
    :param prepare_options: the options its ``prepare`` reads (a subset of
        ``options``); ``None``: all of them. A cached prepare is keyed by these, so a
        sweep over any other setting (``ip_scale``, ``steps``, ``corrector``) prepares
        (segments, captions) each image once.
    """

    name: str
    build: Callable[[Components], Any] | str
    summary: str
    needs: tuple[str, ...] | Callable[[SchemeOptions], tuple[str, ...]] = ()
    options: tuple[str, ...] = ()
    semantic: bool = False
    order: int = 100
    budget: bool = False
    settings: type | None = None
    prepared_types: tuple[type, ...] = ()
    prepare_options: tuple[str, ...] | None = None
    source: str = field(default="multisc", compare=False)

    def __post_init__(self) -> None:
        if not self.name or not all(c.islower() or c.isdigit() or c == "_" for c in self.name):
            raise InvalidInputError(
                f"a scheme name is lower-case letters, digits and '_', got {self.name!r}"
            )

    def split_values(self, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """``options: {NAME: {...}}`` split into (overrides of the shared options this
        scheme reads, its own ``settings``); an unknown key is one error naming both
        kinds of key it accepts."""
        own = {f.name for f in dataclasses.fields(self.settings)} if self.settings else set()
        unknown = sorted(set(values) - set(self.options) - own)
        if unknown:
            accepted = ", ".join(sorted({*self.options, *own})) or "none"
            raise InvalidInputError(
                f"unknown setting {unknown[0]!r} of scheme {self.name!r}: choose from {accepted}"
            )
        overrides = {k: v for k, v in values.items() if k in self.options and k not in own}
        return overrides, {k: v for k, v in values.items() if k not in overrides}

    def make_settings(self, values: dict[str, Any]) -> Any:
        """``settings`` filled from ``values`` (keys that override shared options are
        left out): one clear error for an unknown key or a value its dataclass refuses."""
        _, own = self.split_values(values)
        if self.settings is None:
            return None
        try:
            return self.settings(**own)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"settings of scheme {self.name!r}: {exc}") from exc

    def settings_doc(self) -> dict[str, dict[str, Any]]:
        """Each setting's default and help."""
        if self.settings is None:
            return {}
        out = {}
        for f in dataclasses.fields(self.settings):
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            out[f.name] = {"default": default, "help": f.metadata.get("help", "")}
        return out

    def prepare_settings(self, options: SchemeOptions) -> dict[str, Any]:
        """The values of the options ``prepare`` reads, with this scheme's overrides and
        its own settings (what a cached prepare is keyed by)."""
        scoped = options.for_scheme(self.name)
        names = self.options if self.prepare_options is None else self.prepare_options
        settings = {name: getattr(scoped, name) for name in names}
        own = options.schemes.get(self.name, {})
        _, extra = self.split_values(own)
        return {**settings, "settings": extra}

    def builder(self) -> Callable[[Components], Any]:
        """``build`` as a function (a ``"module:function"`` name imported now)."""
        if callable(self.build):
            return self.build
        import importlib

        module, _, function = self.build.partition(":")
        return getattr(importlib.import_module(module), function)

    def needed_components(self, options: SchemeOptions) -> tuple[str, ...]:
        """The pretrained components this scheme loads with ``options``."""
        return tuple(self.needs(options) if callable(self.needs) else self.needs)


#: schemes registered in this process with ``register_scheme`` (beside the built-in ones of
#: [multisc.schemes.builtin][multisc.schemes.builtin] and the plugins' entry points; the
#: three are read together by [multisc.schemes.catalog][multisc.schemes.catalog])
REGISTERED: dict[str, SchemeSpec] = {}


def register_scheme(spec: SchemeSpec) -> SchemeSpec:
    """Register a scheme in this process (a package uses the entry-point group instead)."""
    if spec.name in REGISTERED:
        raise InvalidInputError(f"scheme {spec.name!r} is registered twice")
    REGISTERED[spec.name] = spec
    return spec
