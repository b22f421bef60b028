"""Bounded downloads: a download stops at the size it announced (and the size multisc
recorded for the file), and when it stalls, with one line.

The server of a download is not to be trusted either: an endless body filled a 50 MB
filesystem in 4 s, and one byte every 4 s kept ``multisc models pull`` waiting for ever
(huggingface_hub resets its retries whenever a byte arrives). Hub downloads go through
huggingface_hub's own HTTP client, given a response hook here
(``huggingface_hub.set_client_factory``) that wraps each body; torch hub files are
fetched by ``fetch_url`` with the same two limits.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

#: a download that delivers fewer bytes than this within ``stall_seconds`` has stalled
STALL_BYTES = 64 * 1024
#: how far a file may exceed the size multisc recorded for it (recorded sizes are rounded
#: where the Hub page rounds them; a floating ``--revision main`` may have grown a file)
SIZE_MARGIN = 0.5


class DownloadStopped(OSError):
    """multisc stopped a download: it sent more than it may, or it stalled."""


def stall_seconds() -> float:
    """Seconds a download may take to deliver ``STALL_BYTES`` (``MULTISC_DOWNLOAD_STALL_S``,
    default 60)."""
    try:
        return max(0.1, float(os.environ.get("MULTISC_DOWNLOAD_STALL_S", "60")))
    except ValueError:
        return 60.0


def size_cap(recorded: int) -> int:
    """The most bytes a file recorded at ``recorded`` bytes may be."""
    return int(recorded * (1 + SIZE_MARGIN)) + (1 << 20)


_INSTALLED = False
_INSTALL_LOCK = threading.Lock()


@contextlib.contextmanager
def limited(cap: int) -> Iterator[None]:
    """While inside, every body huggingface_hub receives in any thread is bounded by
    ``cap`` bytes (and its own ``Content-Length``) and by the stall rule."""
    _install()
    global _GLOBAL_CAP
    previous, _GLOBAL_CAP = _GLOBAL_CAP, cap  # snapshot_download downloads in a thread pool
    try:
        yield
    finally:
        _GLOBAL_CAP = previous


_GLOBAL_CAP: int | None = None


def _install() -> None:
    """Give huggingface_hub a client with our response hook (once per process)."""
    global _INSTALLED
    with _INSTALL_LOCK:
        if _INSTALLED:
            return
        from huggingface_hub import set_client_factory
        from huggingface_hub.utils import _http

        base = _http.default_client_factory

        def factory():
            client = base()
            client.event_hooks["response"] = [*client.event_hooks.get("response", []), _guard]
            return client

        set_client_factory(factory)
        _INSTALLED = True


#: sizes the Hub announced in answers to HEAD (``X-Linked-Size``, or ``Content-Length``),
#: by the URL the body will come from (the CDN's ``Location`` for LFS files)
_ANNOUNCED: dict[str, int] = {}


def _guard(response) -> None:
    cap = _GLOBAL_CAP
    if cap is None:
        return
    if response.request.method == "HEAD":
        if "/resolve/" in response.request.url.path:  # the answers whose names it uses
            _check_names(response)
        size = response.headers.get("X-Linked-Size") or (
            None if response.is_redirect else response.headers.get("Content-Length")
        )
        if size is not None and size.isdigit():
            where = response.headers.get("Location") or str(response.request.url)
            if len(_ANNOUNCED) > 10_000:
                _ANNOUNCED.clear()
            _ANNOUNCED[where] = int(size)
        return
    if response.request.method != "GET":
        return
    url = str(response.request.url)
    limit = body_limit(
        url, response.headers.get("Content-Length"), min(cap, _ANNOUNCED.get(url, cap))
    )
    response.stream = _Bounded(response.stream, limit, url)


def body_limit(url: str, announced: str | None, cap: int) -> int:
    """The most bytes a body may have: its ``Content-Length`` when it gives one, which may
    not exceed ``cap``; ``cap`` otherwise."""
    if announced is None or not announced.isdigit():
        return cap
    if int(announced) > cap:
        raise DownloadStopped(
            f"{url} announces {int(announced):,} bytes, more than the {cap:,} multisc allows "
            "for that file"
        )
    return int(announced)


_ETAG = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def _check_names(response) -> None:
    """huggingface_hub 2.4 names cache files after the ``ETag`` (blobs) and
    ``X-Repo-Commit`` (snapshots) the server sends, unchecked: a ``../`` in either made it
    create files outside ``HF_HOME``. Refuse such answers before it uses them."""
    etag = response.headers.get("X-Linked-Etag") or response.headers.get("ETag")
    if etag is not None:
        bare = etag.strip().removeprefix("W/").strip('"')
        if not _ETAG.fullmatch(bare):
            raise DownloadStopped(
                f"{response.request.url} answered with ETag {etag[:80]!r}, not a git or "
                "SHA-256 digest: huggingface_hub would name a cache file after it"
            )
    commit = response.headers.get("X-Repo-Commit")
    if commit is not None and not re.fullmatch(r"[0-9a-f]{40}", commit):
        raise DownloadStopped(
            f"{response.request.url} answered with commit {commit[:80]!r}, not a 40-digit hash"
        )


def _bounded(chunks, limit: int, url: str) -> Iterator[bytes]:
    """``chunks`` as they come, stopped past ``limit`` bytes or when they stall."""
    stall = stall_seconds()
    total = window = 0
    started = time.monotonic()
    for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise DownloadStopped(f"{url} sent more than the {limit:,} bytes it may")
        window += len(chunk)
        now = time.monotonic()
        if now - started >= stall:
            if window < STALL_BYTES and total < limit:
                raise DownloadStopped(
                    f"{url} stalled: {window:,} bytes in {now - started:.0f} s (the least is "
                    f"{STALL_BYTES:,} bytes in {stall:g} s; MULTISC_DOWNLOAD_STALL_S sets it)"
                )
            started, window = now, 0
        yield chunk


def _stream_base():
    import httpx2

    return httpx2.SyncByteStream


class _Bounded(_stream_base()):  # type: ignore[misc]
    def __init__(self, inner, limit: int, url: str) -> None:
        self.inner, self.limit, self.url = inner, limit, url

    def __iter__(self) -> Iterator[bytes]:
        yield from _bounded(self.inner, self.limit, self.url)

    def close(self) -> None:
        self.inner.close()


def fetch_url(url: str, path: Path, cap: int, progress: bool = True) -> None:
    """Download ``url`` to ``path`` (a new file, renamed when whole), bounded like Hub
    downloads: at most its ``Content-Length`` and ``cap`` bytes, stopped when it stalls.
    Proxies come from the environment (``HTTPS_PROXY``...), as urllib reads them.

    :raises DownloadStopped: over its size, or stalled.
    :raises OSError: the connection failed (``urllib.error.URLError`` is one).
    """
    import urllib.request

    from tqdm.auto import tqdm

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    request = urllib.request.Request(url, headers={"User-Agent": "multisc"})
    try:
        with urllib.request.urlopen(request, timeout=stall_seconds()) as answer:
            limit = body_limit(url, answer.headers.get("Content-Length"), cap)
            chunks = iter(lambda: answer.read1(1 << 16), b"")  # what has come, not 64 KiB
            with (
                partial.open("wb") as out,
                tqdm(total=limit, unit="B", unit_scale=True, disable=not progress,
                     desc=path.name) as bar,
            ):  # fmt: skip
                for chunk in _bounded(chunks, limit, url):
                    out.write(chunk)
                    bar.update(len(chunk))
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
