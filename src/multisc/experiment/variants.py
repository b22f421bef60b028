"""Experiments beyond one SNR axis: ``vary:`` in a run config.

``vary`` maps a setting to its values; several settings give their product. A setting is
a scheme option ([SchemeOptions][multisc.schemes.options.SchemeOptions]: ``ip_scale``,
``corrector``, ``budget``, ``candidates`` ...), a pair of them written ``"rows,cols"``
with pairs as values, or an NR channel setting (``mcs``, ``prbs`` ...):

.. code-block:: yaml

    vary:
      ip_scale: [0, 0.25, 0.5, 0.75, 1]
      "rows,cols": [[1, 1], [2, 2], [3, 3], [4, 4]]

Each combination of a scheme's varied settings is a [Variant][multisc.experiment.variants.Variant]
with a stable label
(``multisc ip_scale=0.25``); a scheme that reads none of them runs once. Channel settings
make one channel per value instead (every scheme reads the channel).
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from multisc.errors import InvalidInputError, did_you_mean

if TYPE_CHECKING:
    from multisc.experiment.config import RunConfig
    from multisc.experiment.settings import ChannelConfig
    from multisc.schemes.options import SchemeOptions

#: the most (variant x image x SNR x seed x channel) results one run may ask for
MAX_RESULTS = 10_000
#: the most values of one axis
MAX_VALUES = 100
#: NR channel settings an axis may vary (each value is its own channel, with its own label)
CHANNEL_AXES = (
    "mcs", "prbs", "delay_spread_ns", "speed_kmh", "carrier_ghz", "scs_khz", "csi",
    "mcs_table", "dmrs_additional_positions",
)  # fmt: skip
#: scheme options that are not settings of an experiment (per-scheme blocks, paths)
_NOT_AXES = ("schemes", "jscc_checkpoint")


def axis_names(key: str) -> tuple[str, ...]:
    """``"rows,cols"`` -> ``("rows", "cols")``; ``"ip_scale"`` -> ``("ip_scale",)``."""
    return tuple(part.strip() for part in str(key).split(","))


def format_value(value: Any) -> str:
    """A setting's value in a label: ``0.25``, ``1/48``, ``bart``, ``none``, ``true``."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):  # short, and distinct values never share a label
        short = f"{value:g}"
        return short if float(short) == value else repr(value)
    if isinstance(value, list | tuple):
        return "x".join(format_value(v) for v in value)
    return str(value)


@dataclass(frozen=True)
class Variant:
    """A scheme with some settings changed: what a run's ``scheme`` column names.

    :ivar scheme: the registered scheme.
    :ivar settings: the varied settings, in axis order (``(("ip_scale", 0.25),)``).
    """

    scheme: str
    settings: tuple[tuple[str, Any], ...] = ()

    @property
    def label(self) -> str:
        """``multisc`` or ``multisc ip_scale=0.25 corrector=bart``: stable and readable."""
        parts = [f"{name}={format_value(value)}" for name, value in self.settings]
        return " ".join([self.scheme, *parts])

    @property
    def slug(self) -> str:
        """The label as a folder name (``multisc_ip_scale=0.25``; ``/`` becomes ``-``)."""
        return re.sub(r"[^A-Za-z0-9._=+-]", "-", self.label.replace(" ", "_"))

    def as_dict(self) -> dict[str, Any]:
        return dict(self.settings)

    def options(self, base: SchemeOptions) -> SchemeOptions:
        """``base`` with this variant's settings as its scheme's own overrides (they win
        over ``options: {scheme: {...}}``)."""
        if not self.settings:
            return base
        own = {**base.schemes.get(self.scheme, {}), **dict(self.settings)}
        return dataclasses.replace(base, schemes={**base.schemes, self.scheme: own})


def _readers(name: str) -> list[str]:
    from multisc.schemes.catalog import scheme_specs

    return [spec.name for spec in scheme_specs().values() if name in spec.options]


def _values(key: str, values: Any) -> list[Any]:
    if not isinstance(values, list):
        raise InvalidInputError(
            f"vary: {key} must list its values, e.g. {key}: [a, b], got {values!r}"
        )
    if not values:
        raise InvalidInputError(f"vary: {key} has no values: give at least one")
    if len(values) > MAX_VALUES:
        raise InvalidInputError(f"vary: {key} has {len(values)} values; at most {MAX_VALUES}")
    names = axis_names(key)
    out = []
    for value in values:
        if len(names) > 1:
            if not isinstance(value, list | tuple) or len(value) != len(names):
                raise InvalidInputError(
                    f"vary: {key} takes {len(names)}-value lists ({', '.join(names)}), got "
                    f"{value!r}"
                )
            value = tuple(value)
        out.append(value)
    labels: dict[str, Any] = {}
    for value in out:  # 1 and 1.0, or 400 and "400", are one value: one label, one row
        label = format_value(value)
        if label in labels:
            raise InvalidInputError(
                f"vary: {key} lists the value {label} twice ({labels[label]!r} and {value!r})"
            )
        labels[label] = value
    return out


def check_vary(vary: dict[str, Any], schemes: Sequence[str], base: SchemeOptions) -> None:
    """One ``InvalidInputError`` for the first bad axis: an unknown setting (the
    closest one suggested), a setting no chosen scheme reads (naming those that would), no
    values, a value the setting refuses, a name varied twice."""
    from multisc.schemes.options import SchemeOptions

    known = [f.name for f in dataclasses.fields(SchemeOptions) if f.name not in _NOT_AXES]
    seen: set[str] = set()
    for key, values in vary.items():
        names = axis_names(key)
        for name in names:
            if name in seen:
                raise InvalidInputError(f"vary: {name} is varied twice")
            seen.add(name)
            if name in CHANNEL_AXES:
                if len(names) > 1:
                    raise InvalidInputError(f"vary: channel setting {name} is an axis of its own")
                continue
            if name not in known:
                hint = did_you_mean(name, [*known, *CHANNEL_AXES])
                raise InvalidInputError(f"vary: unknown setting {name!r}{hint}")
            readers = _readers(name)
            if not set(readers) & set(schemes):
                raise InvalidInputError(
                    f"vary: no chosen scheme reads {name} (schemes: {', '.join(schemes)}); "
                    f"{', '.join(readers) or 'no scheme'} would"
                )
        for value in _values(key, values):
            if names[0] in CHANNEL_AXES:
                continue  # checked on the channels themselves (config.channels())
            settings = dict(zip(names, value if len(names) > 1 else (value,), strict=True))
            try:
                dataclasses.replace(base, **settings)
            except InvalidInputError as exc:
                raise InvalidInputError(f"vary: {exc}") from None


#: the longest variant label: it names folders of the run directory (file names stop at
#: 255 bytes), refused when the config loads rather than when a result is written
MAX_LABEL = 120


def variant_count(config: RunConfig, scheme: str) -> int:
    """How many variants ``scheme`` has in ``config``, counted without making them (a
    product of 10^8 combinations is refused, not materialised)."""
    from multisc.schemes.catalog import get_spec

    reads = set(get_spec(scheme).options)
    count = 1
    for key, values in config.vary.items():
        names = axis_names(key)
        if names[0] not in CHANNEL_AXES and set(names) <= reads and isinstance(values, list):
            count *= len(values)
    return count


def check_variants(config: RunConfig) -> None:
    """Refuse, before any variant is made: more variants than results a run may have,
    and labels too long to name a folder."""
    total = sum(variant_count(config, scheme) for scheme in config.schemes)
    if total > MAX_RESULTS:
        raise InvalidInputError(
            f"vary: the axes make {total:,} variants; a run holds at most {MAX_RESULTS:,} "
            "results: use fewer values"
        )
    for variant in run_variants(config):
        if len(variant.slug.encode()) > MAX_LABEL:
            raise InvalidInputError(
                f"vary: the variant label {variant.label[:60]!r}... is {len(variant.slug)} "
                f"characters; at most {MAX_LABEL} (it names a folder): use shorter values"
            )


def scheme_variants(config: RunConfig, scheme: str) -> list[Variant]:
    """The variants of ``scheme`` in ``config``: the product of the axes it reads, in the
    order the config lists axes and values; one variant (no settings) when it reads none."""
    from multisc.schemes.catalog import get_spec

    reads = set(get_spec(scheme).options)
    axes = [
        (axis_names(key), _values(key, values))
        for key, values in config.vary.items()
        if axis_names(key)[0] not in CHANNEL_AXES and set(axis_names(key)) <= reads
    ]
    out = []
    for combo in itertools.product(*(values for _, values in axes)):
        settings: list[tuple[str, Any]] = []
        for (names, _), value in zip(axes, combo, strict=True):
            values = value if len(names) > 1 else (value,)
            settings.extend(zip(names, values, strict=True))
        out.append(Variant(scheme, tuple(settings)))
    return out


def run_variants(config: RunConfig, schemes: Sequence[str] | None = None) -> list[Variant]:
    """Every variant of the run's (or of ``schemes``), scheme by scheme."""
    variants = [v for s in (schemes or config.schemes) for v in scheme_variants(config, s)]
    slugs: dict[str, str] = {}
    for variant in variants:
        other = slugs.setdefault(variant.slug, variant.label)
        if other != variant.label:
            raise InvalidInputError(
                f"variants {other!r} and {variant.label!r} would share the folder "
                f"{variant.slug!r}: change one value"
            )
    return variants


def channel_axes(vary: dict[str, Any]) -> list[tuple[str, list[Any]]]:
    return [(key, _values(key, values)) for key, values in vary.items() if key in CHANNEL_AXES]


def expand_channels(channels: list[ChannelConfig], vary: dict[str, Any]) -> list[ChannelConfig]:
    """Each channel once per combination of the varied channel settings."""
    axes = channel_axes(vary)
    if not axes:
        return channels
    out = []
    for channel in channels:
        for combo in itertools.product(*(values for _, values in axes)):
            changes = dict(zip((key for key, _ in axes), combo, strict=True))
            data = {**channel.model_dump(exclude_unset=True), **changes}
            try:
                out.append(type(channel)(**data))
            except ValueError as exc:  # pydantic's ValidationError: one line, the axis named
                errors = exc.errors() if hasattr(exc, "errors") else [{"msg": str(exc)}]
                message = str(errors[0]["msg"]).removeprefix("Value error, ")
                raise InvalidInputError(
                    f"vary: {', '.join(f'{k}={v}' for k, v in changes.items())}: {message}"
                ) from None
    return out


def channel_settings(channel: ChannelConfig, vary: dict[str, Any]) -> dict[str, Any]:
    """The varied channel settings' values on ``channel`` (for the store's settings)."""
    return {key: getattr(channel, key) for key, _ in channel_axes(vary)}


def variant_of(label: str, variants: Sequence[Variant]) -> Variant:
    for variant in variants:
        if variant.label == label:
            return variant
    raise KeyError(label)


def count_results(config: RunConfig, images: int) -> int:
    """Results a run asks for: variants x images x SNRs x seeds x channels."""
    return (
        len(run_variants(config)) * images * len(config.snr_db) * config.seeds
        * len(config.channels())
    )  # fmt: skip


def check_size(config: RunConfig, images: int) -> None:
    """Refuse a run of more than ``MAX_RESULTS`` results, before any work."""
    total = count_results(config, images)
    if total > MAX_RESULTS:
        raise InvalidInputError(
            f"this run asks for {total:,} results ({len(run_variants(config))} variant(s) x "
            f"{images} image(s) x {len(config.snr_db)} SNR(s) x {config.seeds} seed(s) x "
            f"{len(config.channels())} channel(s)); the limit is {MAX_RESULTS:,}: split it, "
            "or use fewer values"
        )


def _as_number(text: str) -> float | None:
    from fractions import Fraction

    try:
        return float(Fraction(text))
    except (ValueError, ZeroDivisionError):
        return None


def series_order(series) -> list[str]:
    """Schemes, variant labels or ``"label [channel]"`` series in report order: schemes in
    their registered order (one no longer installed last), a scheme's variants by their
    values, numbers as numbers (``ip_scale=0.25`` before ``ip_scale=1``, ``budget=1/48``
    before ``budget=1/6``); a comparison's ``run: scheme`` series by run first."""
    from multisc.schemes.catalog import scheme_specs

    specs = scheme_specs()

    def key(item: str) -> tuple:
        label, _, channel = item.partition(" [")
        run = ""
        if ": " in label:  # a comparison's "run: scheme ...": by run, then as within one
            run, _, label = label.partition(": ")
        name, *settings = label.split(" ")
        order = specs[name].order if name in specs else 1000
        values = []
        for setting in settings:
            value = setting.partition("=")[2]
            number = _as_number(value)
            values.append((0, number, "") if number is not None else (1, 0.0, value))
        return (run, order, name, values, channel)

    return sorted(series, key=key)
