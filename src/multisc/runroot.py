"""The one way multisc opens files inside a run directory.

A run directory may come from someone else (a shared filesystem, a colleague's results, a
cluster's scratch space), so everything in it is data, and every entry may be a trap: a
symbolic link to a file the user can write, a FIFO that blocks ``open`` forever, a file
of 20 GiB, a name of 300 bytes. ``RunRoot`` opens paths below the run root only:

- names are validated as relative paths (no absolute path, no ``..``, no empty or
  over-long component): a path read from the store or the cache is an id, not a path;
- every component is opened with ``O_NOFOLLOW`` relative to its parent's descriptor
  (``openat``), so no link is followed anywhere below the root, and no check can be raced
  by swapping an entry afterwards;
- reads open regular files only (``O_NONBLOCK``: a FIFO is refused, not waited on) and are
  bounded *before* they happen (``fstat`` size against the caller's limit);
- writes go to a new file (``O_CREAT | O_EXCL``, a random name) in the target's directory,
  then ``rename`` over the entry: an existing entry, a link included, is replaced, never
  written through.

A refused entry is one ``RunDirError`` line naming it. The root itself is the user's
``--out``: it is resolved once (a link the user made to their own folder is theirs).
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import secrets
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from multisc.errors import InvalidInputError, printable

#: longest name of one path component, in bytes (Linux's NAME_MAX)
NAME_MAX = 255
#: bounds of what multisc itself writes into a run directory
JSON_LIMIT = 64 << 20
TEXT_LIMIT = 64 << 20

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class RunDirError(InvalidInputError):
    """An entry of a run directory that multisc will not open (a link, a FIFO, a path that
    leaves the run, a file over its size limit, a name too long)."""


def check_relative(relative: str | Path) -> tuple[str, ...]:
    """The components of a path inside a run directory, or ``RunDirError``.

    >>> check_relative("images/a/reference.png")
    ('images', 'a', 'reference.png')
    """
    text = str(relative)
    if not text or "\0" in text or text.startswith("/") or "\\" in text:
        raise RunDirError(f"{text!r} is not a path inside a run directory")
    parts = tuple(text.split("/"))
    for part in parts:
        if part in ("", ".", ".."):
            raise RunDirError(f"{text!r} is not a path inside a run directory")
        if len(part.encode("utf-8", "surrogateescape")) > NAME_MAX:
            raise RunDirError(
                f"{text[:60]!r}...: a name in it is longer than {NAME_MAX} bytes; shorten the "
                "image's file name"
            )
    return parts


def _reason(exc: OSError) -> str:
    """An OS error in words (``EROFS``: "the file system is read-only"), its path left out."""
    return {
        errno.EACCES: "permission denied (a parent folder is not writable)",
        errno.EPERM: "operation not permitted",
        errno.EROFS: "the file system is read-only",
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is exhausted",
        errno.ENOTDIR: "a part of the path is a file, not a folder",
        errno.ENAMETOOLONG: "the path is too long",
    }.get(exc.errno, exc.strerror or type(exc).__name__)


class RunRoot:
    """Files below ``root``, opened without following links (see the module doc)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"RunRoot({str(self.root)!r})"

    def create(self, flag: str = "--out") -> None:
        """Make the run directory (and its parents) when it does not exist; every reason
        it cannot be made is one ``RunDirError`` naming the folder and what to do (a
        dangling link is refused, never followed to make its target)."""
        where = self.root
        try:
            if where.is_symlink() and not where.exists():
                raise RunDirError(
                    f"{flag} {where} is a link to {os.readlink(where)!s}, which does not "
                    "exist: multisc does not make a link's target; remove the link or "
                    f"choose another {flag}"
                )
            if where.exists() and not where.is_dir():
                raise RunDirError(f"{flag} {where} is a file, not a folder: choose a folder")
            where.mkdir(parents=True, exist_ok=True)
        except RunDirError:
            raise
        except OSError as exc:
            example = f" (e.g. {flag} ~/runs/NAME)" if flag.startswith("--") else ""
            raise RunDirError(
                f"cannot make {flag} {where}: {_reason(exc)}; choose a folder you can "
                f"write{example}"
            ) from None

    # -- descriptors ---------------------------------------------------------------------

    def _root_fd(self) -> int:
        try:
            return os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise RunDirError(f"{self.root} does not exist") from None
        except NotADirectoryError:
            raise RunDirError(f"{self.root} is not a directory") from None

    @contextmanager
    def _directory(self, parts: tuple[str, ...], create: bool) -> Iterator[int]:
        """A descriptor of ``root/parts``, each step opened with ``O_NOFOLLOW`` (the root
        itself made first when ``create`` and it does not exist)."""
        if create and not self.root.exists():
            self.create()
        fd = self._root_fd()
        try:
            for i, part in enumerate(parts):
                child = self._open_dir(part, fd, parts[: i + 1], create)
                os.close(fd)
                fd = child
            yield fd
        finally:
            os.close(fd)

    def _open_dir(self, part: str, fd: int, parts: tuple[str, ...], create: bool) -> int:
        try:
            return os.open(part, _DIR_FLAGS, dir_fd=fd)
        except FileNotFoundError:
            if not create:
                raise
        except OSError as exc:
            raise self._refusal(parts, exc) from None
        with contextlib.suppress(FileExistsError):  # made by another worker meanwhile
            os.mkdir(part, 0o777, dir_fd=fd)
        try:
            return os.open(part, _DIR_FLAGS, dir_fd=fd)
        except OSError as exc:
            raise self._refusal(parts, exc) from None

    def _refusal(self, parts: tuple[str, ...], exc: OSError) -> RunDirError:
        where = self.root / "/".join(parts)
        if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
            try:
                kind = "a symbolic link" if where.is_symlink() else "not a folder"
            except OSError:
                kind = "not a folder"
            return RunDirError(
                f"{where} is {kind}: multisc never follows links or writes through other "
                "entries inside a run directory; remove it (or choose another --out)"
            )
        if exc.errno == errno.ENOSPC:
            return RunDirError(f"no space left on the device of {where}: free space and run "
                               "the same command again (it resumes)")  # fmt: skip
        return RunDirError(
            f"{where} cannot be opened ({exc.strerror}): check its permissions, or choose "
            "another --out"
        )

    # -- reading -------------------------------------------------------------------------

    def is_file(self, relative: str | Path) -> bool:
        """Whether ``relative`` is a regular file (not a link, a folder or a FIFO)."""
        parts = check_relative(relative)
        try:
            with self._directory(parts[:-1], create=False) as fd:
                info = os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
        except (FileNotFoundError, RunDirError):
            return False
        return stat.S_ISREG(info.st_mode)

    def entry_kind(self, relative: str | Path) -> str | None:
        """``file``, ``folder``, ``link``, ``other`` or None (absent) for ``relative``."""
        parts = check_relative(relative)
        try:
            with self._directory(parts[:-1], create=False) as fd:
                info = os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        if stat.S_ISLNK(info.st_mode):
            return "link"
        if stat.S_ISDIR(info.st_mode):
            return "folder"
        return "file" if stat.S_ISREG(info.st_mode) else "other"

    def read_bytes(self, relative: str | Path, limit: int) -> bytes:
        """The bytes of regular file ``relative``, refused (before reading) over ``limit``.

        :raises FileNotFoundError: it does not exist.
        :raises RunDirError: a link, a FIFO or another non-file, or over ``limit`` bytes.
        """
        parts = check_relative(relative)
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
        with self._directory(parts[:-1], create=False) as dir_fd:
            try:
                fd = os.open(parts[-1], flags, dir_fd=dir_fd)
            except FileNotFoundError:
                raise
            except OSError as exc:
                raise self._refusal(parts, exc) from None
        try:
            info = os.fstat(fd)
            where = self.root / "/".join(parts)
            if not stat.S_ISREG(info.st_mode):
                raise RunDirError(
                    f"{where} is not a regular file: multisc reads only files; remove it"
                )
            if info.st_size > limit:
                raise RunDirError(
                    f"{where} is {info.st_size:,} bytes, over the {limit:,} bytes a run "
                    "directory's file of its kind may hold; it was not read"
                )
            with os.fdopen(fd, "rb", closefd=False) as handle:
                data = handle.read(limit + 1)
            if len(data) > limit:  # it grew while being read
                raise RunDirError(f"{where} is over {limit:,} bytes; it was not read")
            return data
        finally:
            os.close(fd)

    def read_text(self, relative: str | Path, limit: int = TEXT_LIMIT) -> str:
        """UTF-8 text of ``relative`` (undecodable bytes replaced), bounded as
        ``read_bytes``."""
        return self.read_bytes(relative, limit).decode("utf-8", errors="replace")

    def read_json(self, relative: str | Path, limit: int = JSON_LIMIT) -> Any:
        """JSON of ``relative``; nesting too deep to parse is one ``RunDirError``."""
        text = self.read_text(relative, limit)
        try:
            return json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise RunDirError(
                f"{self.root / str(relative)} is not JSON multisc wrote ({type(exc).__name__})"
            ) from None

    def read_image(self, relative: str | Path, limit_bytes: int = 256 << 20):
        """A PNG of the run directory (PNG only: no other decoder ever sees the bytes),
        its pixels bounded as every image multisc opens (``multisc.imaging.open_png``)."""
        from multisc.imaging import open_png

        data = self.read_bytes(relative, limit_bytes)
        return open_png(data, str(self.root / str(relative)))

    # -- writing -------------------------------------------------------------------------

    def makedirs(self, relative: str | Path) -> None:
        """Make folders ``relative`` (no link followed; existing folders kept)."""
        with self._directory(check_relative(relative), create=True):
            pass

    def remove_entry(self, relative: str | Path) -> None:
        """Remove whatever is at ``relative`` (a file, a link: the link itself, a FIFO, a
        folder with everything in it), never following a link; nothing if it is absent.
        For multisc's own scratch entries (the prepare cache) that someone replaced."""
        import shutil

        parts = check_relative(relative)
        with self._directory(parts[:-1], create=False) as fd:
            try:
                info = os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                return
            if stat.S_ISDIR(info.st_mode):
                shutil.rmtree(parts[-1], dir_fd=fd)  # fd-based: links inside are not followed
            else:
                os.unlink(parts[-1], dir_fd=fd)

    def ensure_folder(self, relative: str | Path) -> None:
        """Make folders ``relative``, replacing any step that is not a folder (a link, a
        file) by an empty folder: for multisc's own scratch folders (the prepare cache),
        whose contents it can always make again."""
        parts = check_relative(relative)
        for i in range(1, len(parts) + 1):
            kind = self.entry_kind("/".join(parts[:i])) if self.root.exists() else None
            if kind not in (None, "folder"):
                self.remove_entry("/".join(parts[:i]))
        self.makedirs(relative)

    def write_bytes(self, relative: str | Path, data: bytes) -> Path:
        """Write ``relative`` whole or not at all: a new file with a random name beside it,
        then renamed over the entry (a link there is replaced, never written through)."""
        return self.write_with(relative, lambda handle: handle.write(data))

    def write_with(self, relative: str | Path, fill: Callable[[BinaryIO], object]) -> Path:
        """``write_bytes`` of what ``fill(handle)`` writes into the new file (a copy of a
        large file, streamed)."""
        parts = check_relative(relative)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        with self._directory(parts[:-1], create=True) as dir_fd:
            tmp = f".{parts[-1][:200]}.{secrets.token_hex(6)}.tmp"
            try:
                fd = os.open(tmp, flags, 0o666, dir_fd=dir_fd)
            except OSError as exc:
                raise self._refusal(parts, exc) from None
            try:
                with os.fdopen(fd, "wb") as handle:
                    fill(handle)
                os.replace(tmp, parts[-1], src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except OSError as exc:
                with contextlib.suppress(OSError):
                    os.unlink(tmp, dir_fd=dir_fd)
                if exc.errno == errno.ENOSPC:
                    raise self._refusal(parts, exc) from None
                if exc.errno in (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST):
                    raise RunDirError(
                        f"{self.root / '/'.join(parts)} is a folder where multisc writes a "
                        "file: remove it"
                    ) from None
                raise
        return self.root.joinpath(*parts)

    def write_text(self, relative: str | Path, text: str) -> Path:
        """``write_bytes`` of ``text`` in UTF-8 (a file name's undecodable bytes as ``\\xNN``,
        see [printable][multisc.errors.printable])."""
        return self.write_bytes(relative, printable(text).encode("utf-8"))

    def append_text(self, relative: str | Path, text: str) -> None:
        """Append ``text`` to regular file ``relative`` (made when absent; a link there is
        removed, never followed, and a new file started; another non-file is refused). One
        ``write`` of an ``O_APPEND`` descriptor: short lines from several workers do not
        interleave."""
        parts = check_relative(relative)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
        with self._directory(parts[:-1], create=True) as dir_fd:
            try:
                fd = os.open(parts[-1], flags | os.O_CLOEXEC, 0o666, dir_fd=dir_fd)
            except OSError as exc:
                if exc.errno != errno.ELOOP:
                    raise self._refusal(parts, exc) from None
                os.unlink(parts[-1], dir_fd=dir_fd)  # the link itself, not what it names
                try:
                    fd = os.open(parts[-1], flags | os.O_CLOEXEC, 0o666, dir_fd=dir_fd)
                except OSError as again:
                    raise self._refusal(parts, again) from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise RunDirError(f"{self.root / '/'.join(parts)} is not a regular file: remove it")
            os.write(fd, printable(text).encode("utf-8"))
        finally:
            os.close(fd)

    def save_figure(self, fig, relative: str | Path, **kwargs) -> Path:
        """``fig.savefig`` into the run directory through ``write_bytes`` (matplotlib
        would open the path itself, following a link)."""
        suffix = Path(str(relative)).suffix.lstrip(".")
        buffer = io.BytesIO()
        fig.savefig(buffer, format=suffix, **kwargs)
        return self.write_bytes(relative, buffer.getvalue())

    # -- the lock ------------------------------------------------------------------------

    @contextmanager
    def locked(self) -> Iterator[None]:
        """An exclusive ``flock`` on the run directory itself for the duration: one writer.
        Its identity is the folder, which deleting a file inside cannot replace; the kernel
        releases it when the process dies, however it dies.

        :raises BlockingIOError: another process holds it.
        """
        import fcntl

        fd = self._root_fd()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
