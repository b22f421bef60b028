"""Downloads: exactly the files a component needs, at its pinned commit, with one clear
line for everything that can go wrong on the way.

Hub repositories come through ``huggingface_hub`` (the HF cache, ``HF_ENDPOINT``,
``HF_TOKEN``); torch hub files through ``multisc.models.transfer.fetch_url`` into torch
hub's cache (``$TORCH_HOME``); both bounded (``multisc.models.transfer``). Whether a download
can start is checked the way the download itself goes: an HTTP request with
``huggingface_hub``'s own client, which honours ``HTTPS_PROXY`` / ``HTTP_PROXY`` /
``ALL_PROXY`` / ``NO_PROXY``, so a network that needs a proxy is not mistaken for none.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path

from multisc.errors import ModelFileError, ModelNotAvailableError
from multisc.models.local import (
    cache_dir,
    is_available,
    snapshot_of,
    torch_hub_checkpoint,
)
from multisc.models.registry import ModelEntry, entry, file_error, first_line
from multisc.models.transfer import DownloadStopped, fetch_url, limited, size_cap
from multisc.models.weights import check_directory, weights_problem

#: the variables that switch Hugging Face downloads off (huggingface_hub reads both)
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


def offline_variable() -> str | None:
    """The variable that switches downloads off (``HF_HUB_OFFLINE=1``, or
    ``TRANSFORMERS_OFFLINE=1`` as huggingface_hub also honours it), or None."""
    for name in OFFLINE_VARIABLES:
        if os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on"):
            return name
    return None


def offline() -> bool:
    """True when Hugging Face Hub access is switched off (see
    [offline_variable][multisc.models.downloads.offline_variable])."""
    return offline_variable() is not None


def hub_endpoint() -> str:
    """The Hugging Face Hub endpoint (``HF_ENDPOINT``), read at call time."""
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


_PROXY_VARIABLES = (
    "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy",
    "NO_PROXY", "no_proxy",
)  # fmt: skip


def url_reachable(url: str, timeout_s: float = 3.0) -> bool:
    """Whether ``url``'s server answers an HTTP request, sent the way downloads go (through
    the proxy the environment names, if any; checked once per process, server and proxy
    settings). Any HTTP answer counts, an error status too: the server is there.

    Without this, a download on a machine without network waits through retries and URL
    timeouts (tens of seconds) before the same error.
    """
    from urllib.parse import urlparse

    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return False
    origin = f"{parsed.scheme}://{parsed.netloc}/"
    proxies = tuple((k, os.environ.get(k, "")) for k in _PROXY_VARIABLES)
    return _answers(origin, proxies, timeout_s)


@functools.cache
def _answers(origin: str, _proxies: tuple, timeout_s: float) -> bool:
    """One HEAD request with huggingface_hub's own HTTP client (its proxy settings)."""
    from huggingface_hub.utils import get_session

    try:
        get_session().head(origin, timeout=timeout_s, follow_redirects=False)
        return True
    except Exception:  # the client's connect/proxy/timeout errors: nothing answered
        return False


def fetchable_url(url: str) -> bool:
    """Whether downloads are allowed (no offline variable set) and ``url``'s server answers."""
    return not offline() and url_reachable(url)


def hub_reachable(timeout_s: float = 3.0) -> bool:
    """Whether the Hugging Face Hub (``HF_ENDPOINT``) answers."""
    return url_reachable(hub_endpoint(), timeout_s)


def fetchable() -> bool:
    """Whether downloads are possible now: hub access allowed and the endpoint reachable."""
    return not offline() and hub_reachable()


def _fetch(item: ModelEntry, revision: str | None, dry_run: bool = False):
    """``snapshot_download`` of exactly ``item``'s needed files at ``revision`` from
    ``HF_ENDPOINT`` (a dry run, to learn the sizes, draws no progress bar; a download does)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.utils import (
        are_progress_bars_disabled,
        disable_progress_bars,
        enable_progress_bars,
    )

    quiet = dry_run and not are_progress_bars_disabled()
    if quiet:
        disable_progress_bars()
    try:
        return snapshot_download(
            item.repo_id,
            revision=revision,
            allow_patterns=list(item.needed),
            endpoint=hub_endpoint(),
            dry_run=dry_run,
        )
    finally:
        if quiet:
            enable_progress_bars()


def pinned(name: str, revision: str | None = None) -> str | None:
    """The revision a download of ``name`` asks for: ``revision`` when given (``main``
    floats), else the commit the manifest pins (None where it pins none)."""
    return revision if revision is not None else entry(name).revision


def download_sizes(names: list[str], revision: str | None = None) -> dict[str, int]:
    """Bytes still to download per component (what is cached is not counted): from the
    hub's file listing (a dry run), the recorded size for torch hub files. A file two
    components share (IP-Adapter and IP-Adapter Plus: one image encoder in one repo) is
    counted once, with the first."""

    sizes: dict[str, int] = {}
    counted: set[tuple[str, str | None, str]] = set()
    for name in names:
        item = entry(name)
        if item.torch_hub:
            present = torch_hub_checkpoint(item.repo_id).is_file()
            if not present:
                _check_can_download(name, item.url or "")
            sizes[name] = 0 if present else sum(item.sizes.values())
            continue
        _check_can_download(name, hub_endpoint(), item.repo_id)
        try:
            plan = _fetch(item, pinned(name, revision), dry_run=True)
        except Exception as exc:  # unreachable, 401/404s
            raise download_error(name, item.repo_id, exc, pinned(name, revision)) from exc
        _check_listing(item, {f.filename for f in plan})
        revision_of = pinned(name, revision)
        new = [f for f in plan if (item.repo_id, revision_of, f.filename) not in counted]
        counted.update((item.repo_id, revision_of, f.filename) for f in plan)
        sizes[name] = sum(f.file_size or 0 for f in new if f.will_download)
    return sizes


def _check_can_download(name: str, url: str, where: str | None = None) -> None:
    variable = offline_variable()
    if variable:
        raise download_error(name, where or url, RuntimeError(f"{variable} is set"))
    if not url_reachable(url):
        raise download_error(name, where or url, ConnectionError(f"{url} is not reachable"))


def pull_many(
    names: list[str], say: Callable[[str], None] = print, revision: str | None = None
) -> dict[str, str]:
    """Download the components of ``names`` that are not here yet (at their pinned commits,
    or ``revision``), saying the total size first (progress bars: huggingface_hub's and
    torch hub's, on stderr).

    :output: component -> where it lies.
    """
    todo = [name for name in names if revision is not None or not is_available(name)]
    if todo:
        sizes = download_sizes(todo, revision)
        detail = ", ".join(f"{name} {_size(sizes[name])}" for name in todo)
        say(f"downloading {len(todo)} component(s), {_size(sum(sizes.values()))}: {detail}")
    return {name: pull(name, revision=revision) for name in names}


def _size(size: int) -> str:
    return f"{size / 1e9:.2f} GB" if size >= 1e8 else f"{size / 1e6:.1f} MB"


def pull(name: str, progress: bool = True, revision: str | None = None) -> str:
    """Download component ``name``'s needed files into the HF cache (or the torch hub cache),
    at the commit its manifest pins (``revision`` overrides: ``"main"`` floats).

    :output: where it now lies.
    :raises ModelNotAvailableError: the download failed (no network, hub switched off,
        a repository or revision the Hub does not have).
    :raises ModelFileError: the repository lacks a needed file, or a file arrived incomplete.
    """
    item = entry(name)
    if item.torch_hub:
        return _pull_torch_hub(item, progress)
    _check_can_download(name, hub_endpoint(), item.repo_id)
    wanted = pinned(name, revision)
    try:
        with limited(size_cap(max(item.sizes.get(f, 0) for f in item.needed))):
            folder = Path(_fetch(item, wanted))
    except Exception as exc:  # OfflineModeIsEnabled, connection errors, 401/404s, short reads
        if _is_hub_answer(exc):
            raise download_error(name, item.repo_id, exc, wanted) from exc
        stopped = _cause(exc, DownloadStopped)
        if stopped is not None:
            raise ModelFileError(
                f"component {name!r}: multisc stopped the download from {item.repo_id!r}: "
                f"{stopped}; nothing of that file was kept"
            ) from exc
        snapshot = snapshot_of(item, wanted)
        lacking = [f for f in item.needed if snapshot is None or not (snapshot / f).is_file()]
        if lacking and hub_reachable():
            raise ModelFileError(
                f"component {name!r}: the download of {lacking[0]} from {item.repo_id!r} "
                f"broke off ({first_line(exc)}); run `multisc models pull {name}` again "
                "(files that finished are kept; the one cut off starts again from its first "
                "byte)"
            ) from exc
        raise download_error(name, item.repo_id, exc) from exc
    _check_inside_cache(name, folder)
    _check_listing(item, {f for f in item.required if (folder / f).is_file()})
    check_directory(name, folder)
    return str(folder)


def _check_inside_cache(name: str, folder: Path) -> None:
    """huggingface_hub builds cache paths from what the server sends (the commit, the
    ETag): refuse a snapshot that lies outside the cache."""
    root = cache_dir().resolve()
    if not folder.resolve().is_relative_to(root):
        raise ModelFileError(
            f"component {name!r}: the server's answer put the download at {folder}, outside "
            f"the Hugging Face cache {root}; this endpoint ({hub_endpoint()}) is not to be "
            "trusted: unset HF_ENDPOINT"
        )


def _pull_torch_hub(item: ModelEntry, progress: bool) -> str:
    path = torch_hub_checkpoint(item.repo_id)
    if path.is_file():
        return str(path)
    _check_can_download(item.name, item.url or "", item.url)
    try:
        fetch_url(item.url or "", path, size_cap(sum(item.sizes.values())), progress)
    except DownloadStopped as exc:
        raise ModelFileError(
            f"component {item.name!r}: multisc stopped the download: {exc}; nothing of it was kept"
        ) from exc
    except Exception as exc:  # URLError, HTTPError, timeouts
        raise download_error(item.name, item.url or item.repo_id, exc) from exc
    problem = weights_problem(path)
    if problem:
        path.unlink()
        raise file_error(item.name, item.url or item.repo_id, problem)
    return str(path)


def _check_listing(item: ModelEntry, present: set[str]) -> None:
    """Raise ``ModelFileError`` when a repository lacks a file ``item`` loads."""
    lacking = [f for f in item.required if f not in present]
    if lacking:
        raise ModelFileError(
            f"component {item.name!r}: the repository {item.repo_id!r} has no {lacking[0]}, "
            f"which multisc needs (it loads {', '.join(item.required)}); the repository "
            "changed since multisc recorded it: pin a revision that has it, or pass --models DIR"
        )


def _cause(exc: BaseException, kind: type) -> BaseException | None:
    """The exception of type ``kind`` in ``exc``'s chain (causes and contexts), or None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _hub_answer(exc: BaseException) -> BaseException | None:
    """The Hub's refusal (a repository or revision it does not have) behind ``exc``:
    huggingface_hub raises it, or raises a ``DryRunError`` / ``LocalEntryNotFoundError``
    from it after looking in the cache."""
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    return _cause(exc, RepositoryNotFoundError | RevisionNotFoundError)


def _is_hub_answer(exc: BaseException) -> bool:
    return _hub_answer(exc) is not None


def download_error(
    name: str, where: str, cause: BaseException, revision: str | None = None
) -> ModelNotAvailableError:
    """The one error for a download that could not be made, saying what the Hub answered
    (a repository it does not show, a revision it does not have) or why nothing was asked."""
    from huggingface_hub.errors import (
        GatedRepoError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    item = entry(name)
    cause = _hub_answer(cause) or cause
    status = getattr(getattr(cause, "response", None), "status_code", None)
    answered = f"the Hub answered {status}" if status else "the Hub answered"
    if isinstance(cause, GatedRepoError):
        return ModelNotAvailableError(
            f"could not download {name!r}: {answered} that {where!r} is gated. Accept its "
            f"terms on its page and log in (`hf auth login`), or pass --models DIR"
        )
    if isinstance(cause, RepositoryNotFoundError):
        return ModelNotAvailableError(
            f"could not download {name!r}: {answered} RepoNotFound for {where!r}: the "
            "repository was renamed or removed, or is private or gated. If you have access, "
            "log in (`hf auth login`); otherwise put a copy in --models DIR"
        )
    if isinstance(cause, RevisionNotFoundError):
        return ModelNotAvailableError(
            f"could not download {name!r}: {answered} RevisionNotFound for {where!r} at "
            f"revision {revision or item.revision or 'main'!r}: that revision is gone. Pull "
            f"the current one with `multisc models pull {name} --revision main`"
        )
    return ModelNotAvailableError(
        f"could not download {name!r} from {where!r}: {first_line(cause)}. This needs "
        "network access to the Hugging Face Hub / download.pytorch.org (directly or through "
        "the proxy HTTPS_PROXY names) and HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE unset; on "
        "a machine without it, copy the caches or pass --models DIR"
    )
