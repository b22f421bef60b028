"""Planning a run (driver side), once: which schemes run or are skipped (one line each),
what is downloaded first, which deep JSCC checkpoints, which budget; the result, one
immutable [Plan][multisc.experiment.planning.Plan], is what tasks, workers and executors
read."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from multisc.cache import cache_root
from multisc.experiment.config import RunConfig
from multisc.experiment.settings import ChannelConfig

if TYPE_CHECKING:
    from multisc.experiment.variants import Variant


@dataclass(frozen=True)
class Plan:
    """What a run will do, decided once by the driver from the config
    ([plan_run][multisc.experiment.planning.plan_run]) and handed, unchanged, to the
    tasks, the workers and the executors: the schemes that run, their variants, the
    budget, the checkpoints, the components and the number of results."""

    schemes: tuple[str, ...]
    #: the run's variants, scheme by scheme (one per scheme without ``vary``)
    variants: tuple[Variant, ...] = ()
    skipped: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    #: the deep JSCC checkpoints (one per ratio, highest first) per training channel
    #: ("awgn", "rayleigh") the run's channels need, or None
    jscc_checkpoint: dict[str, list[str]] | None = None
    budget: str | None = None
    #: per pretrained component the run loads: repo, commit on disk, weights' sizes
    components: dict[str, dict] = field(default_factory=dict)
    #: the channel labels, in config order (a task's channel index points here)
    channels: tuple[str, ...] = ()

    def total_rows(self, n_images: int, snrs: int, seeds: int) -> int:
        """Results the run holds when done: images x variants x SNRs x seeds x channels."""
        return n_images * len(self.variants) * snrs * seeds * len(self.channels)


def needed_components(scheme: str, config: RunConfig) -> list[str]:
    """The pretrained components ``scheme`` loads with ``config``'s options, in any of its
    variants (``vary: {corrector: [symspell, bart]}`` needs BART's weights), from its
    registration ([SchemeSpec][multisc.schemes.spec.SchemeSpec])."""
    from multisc.experiment.variants import scheme_variants
    from multisc.schemes.catalog import get_spec

    spec, base = get_spec(scheme), config.scheme_options()
    needed = [
        name
        for variant in scheme_variants(config, scheme)
        for name in spec.needed_components(variant.options(base).for_scheme(scheme))
    ]
    return list(dict.fromkeys(needed))


def missing_components(scheme: str, config: RunConfig) -> list[str]:
    from multisc.models import is_available

    return [n for n in needed_components(scheme, config) if not is_available(n, config.models)]


def missing_by_variant(scheme: str, config: RunConfig) -> list[tuple[Variant, list[str]]]:
    """Each variant of ``scheme`` and the components it needs that are not here (a
    ``vary: {captioner: [..., llava-1.5-7b]}`` needs the 7B only in its own variant)."""
    from multisc.experiment.variants import scheme_variants
    from multisc.models import is_available
    from multisc.schemes.catalog import get_spec

    spec, base = get_spec(scheme), config.scheme_options()
    out = []
    for variant in scheme_variants(config, scheme):
        needs = spec.needed_components(variant.options(base).for_scheme(scheme))
        out.append(
            (variant, [n for n in dict.fromkeys(needs) if not is_available(n, config.models)])
        )
    return out


def _skip_line(label: str, missing: list[str], config: RunConfig) -> str:
    from multisc.models import entry

    where = f"in {config.models}" if config.models else "on this machine"
    return (
        f"skipping {label}: weights of {', '.join(missing)} are not available {where} "
        f"(e.g. {entry(missing[0]).repo_id}); run `multisc models pull {' '.join(missing)}` "
        "on a machine with network, or pass --models DIR"
    )


#: the metrics' weights (CLIP image cosine, LPIPS' AlexNet, DISTS' VGG16, FID and KID's
#: Inception), fetched with the schemes'
METRIC_COMPONENTS = ("clip", "lpips", "dists", "inception")


def download_missing(config: RunConfig, say: Callable[[str], None]) -> list[str]:
    """On a machine with network (hub reachable, ``HF_HUB_OFFLINE`` unset, ``download`` on,
    no ``--models DIR``): download every component the chosen schemes and the metrics need
    that is not here yet, the total size said first. Returns what was downloaded."""
    from multisc.models import fetchable, is_available, pull_many

    if config.models is not None or not config.download or not fetchable():
        return []
    needed = [name for scheme in config.schemes for name in needed_components(scheme, config)]
    wanted = [n for n in dict.fromkeys([*needed, *METRIC_COMPONENTS]) if not is_available(n)]
    if wanted:
        pull_many(wanted, say)
    return wanted


def loaded_components(config: RunConfig, schemes: Sequence[str]) -> dict[str, dict]:
    """What the run's schemes and metrics load, as
    [multisc.models.component_record][multisc.models.provenance.component_record]
    says it (components that are not here are left out: their metric is skipped)."""
    from multisc.models import component_records

    needed = [name for scheme in schemes for name in needed_components(scheme, config)]
    return component_records([*needed, *METRIC_COMPONENTS], config.models)


#: the metric each metric component's weights serve
_METRIC_OF = {"clip": "clip_cosine", "lpips": "lpips", "dists": "dists", "inception": "FID and KID"}


def refused_metric_weights(config: RunConfig) -> list[str]:
    """A line for each metric whose weights file is here but refused (truncated, not a
    state dict, a folder): the metric is left out, and the line says why (not "absent")."""
    from multisc.models import file_problems, file_status

    lines = []
    for name in METRIC_COMPONENTS:
        bad = {f: s for f, s in file_status(name, config.models).items()
               if s in ("partial", "damaged", "not a regular file")}  # fmt: skip
        problems = file_problems(name, config.models) if bad else {}
        for file, status in bad.items():
            why = problems.get(file, status).removeprefix("is ")
            lines.append(
                f"{_METRIC_OF[name]} is left out: its weights file {file} was refused ({why}); "
                f"`multisc models pull {name}` fetches it again"
            )
    return lines


def plan_run(
    config: RunConfig, say: Callable[[str], None], train_progress: Callable[..., None] | None = None
) -> Plan:
    """Which schemes run, which are skipped (one line each, saying what to get), the
    deep JSCC checkpoint (trained on first use), and the baselines' budget."""
    schemes: list[str] = []
    skipped: dict[str, str] = {}
    notes: list[str] = []
    download_missing(config, say)
    for scheme in config.schemes:
        by_variant = missing_by_variant(scheme, config)
        if all(missing for _, missing in by_variant):  # nothing of it can run
            union = list(dict.fromkeys(n for _, missing in by_variant for n in missing))
            skipped[scheme] = _skip_line(scheme, union, config)
            say(skipped[scheme])
            continue
        schemes.append(scheme)
        for variant, missing in by_variant:  # the variants whose parts are not here
            if missing:
                skipped[variant.label] = _skip_line(variant.label, missing, config)
                say(skipped[variant.label])
    for line in refused_metric_weights(config):
        notes.append(line)
        say(line)
    budget = config.options.budget
    from multisc.experiment.variants import run_variants, scheme_variants
    from multisc.schemes.catalog import get_spec

    base = config.scheme_options()
    baselines = [  # schemes with a variant whose budget is "same as multisc"
        s
        for s in schemes
        if get_spec(s).budget
        and any(v.options(base).for_scheme(s).budget == "match" for v in scheme_variants(config, s))
    ]
    if budget == "match" and baselines and missing_components("multisc", config):
        budget = config.budget_fallback
        notes.append(
            f"{' and '.join(baselines)}: multisc is not available, so the channel-use budget "
            f"is the ratio {budget} of H·W·3 instead of 'same as multisc'"
        )
        say(notes[-1])
    channels = config.channels()
    for channel in channels:  # measured here, once, so workers read the cache
        nr = channel.nr()
        if nr is not None and nr.mcs is None and set(schemes) - {"deep_jscc"}:
            from multisc.channel import nr_mcs

            nr_mcs.thresholds(nr, progress=say)
    checkpoints = None
    if "deep_jscc" in schemes or config.options.slice_link == "jscc":
        checkpoints = {
            family: jscc_checkpoints(config, say, train_progress, family)
            for family in dict.fromkeys(jscc_family(c) for c in channels)
        }
    return Plan(
        schemes=tuple(schemes),
        variants=tuple(v for v in run_variants(config, schemes) if v.label not in skipped)
        if schemes
        else (),
        skipped=skipped,
        notes=tuple(notes),
        jscc_checkpoint=checkpoints,
        budget=budget,
        components=loaded_components(config, schemes),
        channels=tuple(channel.label for channel in channels),
    )


def jscc_cache_dir() -> Path:
    return cache_root() / "jscc"


def jscc_family(channel: ChannelConfig) -> str:
    """The training channel (``awgn``/``rayleigh``) whose deep JSCC models serve ``channel``."""
    from multisc.codecs.jscc import training_channel

    return training_channel(channel.spec(0.0))


def jscc_checkpoints(
    config: RunConfig,
    say: Callable[[str], None],
    progress: Callable[..., None] | None = None,
    family: str = "awgn",
) -> list[str]:
    """The deep JSCC checkpoints of a run, highest ratio first: the configured ones; else
    the shipped ones for the run's channel and training SNR (every shipped ratio, or
    ``jscc.ratio``); a ratio or SNR no shipped checkpoint covers is trained once on the
    bundled training photos and cached."""
    from multisc.codecs.jscc import parse_ratio, parse_train_snr, read_config
    from multisc.codecs.jscc_shipped import SHIPPED_RATIOS, shipped

    j = config.jscc
    if j.checkpoint:
        return [j.checkpoint] if isinstance(j.checkpoint, str) else list(j.checkpoint)
    snr = parse_train_snr(j.train_snr_db)
    ratios = (j.ratio,) if j.ratio else SHIPPED_RATIOS
    found = {parse_ratio(read_config(d).ratio): str(d) for d in shipped(family, snr, ratios)}
    for ratio in ratios:
        if parse_ratio(ratio) not in found:
            found[parse_ratio(ratio)] = default_jscc_checkpoint(
                config, ratio, say, progress, family
            )
    return [found[r] for r in sorted(found, reverse=True)]


def default_jscc_checkpoint(
    config: RunConfig,
    ratio: str,
    say: Callable[[str], None],
    progress: Callable[..., None] | None = None,
    family: str = "awgn",
) -> str:
    """A deep JSCC checkpoint no shipped one covers: trained once on the bundled
    *training* photos (held out from the ``samples`` source) and cached."""
    from multisc.codecs.jscc import JSCCConfig
    from multisc.codecs.jscc_shipped import directory_name
    from multisc.codecs.jscc_training import RECIPE_VERSION, STATE_FILE, train_jscc
    from multisc.data.sources import TRAINING_PHOTOS, sample_photos

    j = config.jscc
    jscc_config = JSCCConfig(ratio, j.train_snr_db, family)
    # keyed by the recipe's version too: a checkpoint an older recipe cached is not reused
    name = f"{directory_name(jscc_config)}-{j.steps}steps-recipe{RECIPE_VERSION}"
    directory = jscc_cache_dir() / name
    state = directory / STATE_FILE
    if state.is_file() and torch.load(state, weights_only=True)["step"] >= j.steps:
        return str(directory)
    say(
        f"deep_jscc: no shipped checkpoint for {jscc_config.label}; training one ({j.steps} "
        f"steps) on the bundled training photos, cached in {directory}"
    )
    images = [image for _, image in sample_photos(TRAINING_PHOTOS)]
    train_jscc(
        images,
        jscc_config,
        directory,
        steps=j.steps,
        device=config.device,
        progress=progress,
        data="bundled training photos: " + ", ".join(TRAINING_PHOTOS),
    )
    return str(directory)
