"""A Hugging Face Hub on loopback that answers as the real one does, and its CDN.

It serves ``root/<org>/<name>/...`` as the repo ``org/name`` and ``root/torch-models/<file>``
as ``/models/<file>`` (point ``MULTISC_TORCH_MODELS_URL`` at ``<url>/models/``). What the real
Hub does to a download, and this one does too (huggingface_hub 2.4 reads all of it):

- ``GET /api/models/{repo}/revision/{rev}``: repo info (``sha``, ``siblings``);
- ``GET /api/models/{repo}/tree/{rev}[/{path}]``: the listing, files *and* directory
  entries (LFS entries for weights), only one level unless ``recursive=true``, and
  **paginated**: ``page_size`` entries a page, the next page in a ``Link: <...>;
  rel="next"`` header;
- ``HEAD``/``GET /{repo}/resolve/{rev}/{path}``: small files answer 200 with ``ETag`` (the
  git blob id) and ``X-Repo-Commit``; LFS files answer **302 to a second loopback host**
  (the CDN, 127.0.0.2) with ``X-Linked-Etag`` (the SHA-256), ``X-Linked-Size`` and
  ``X-Repo-Commit``. The CDN serves the bytes and answers ``Range`` with 206 and
  ``Content-Range``;
- a repo that does not exist, or that is ``gated``, answers **401** with ``X-Error-Code:
  RepoNotFound`` / ``GatedRepo`` (the Hub does not tell a missing repo from a private one);
  an unknown revision answers 404 ``RevisionNotFound``; an unknown file 404
  ``EntryNotFound``.

Revisions: each repo is at one commit, ``commits[repo]`` (default: the commit its
manifest pins, else a digest of its files), which ``main`` resolves to unless ``heads``
names another commit for ``main`` (the same files: a newer upstream commit that changed
nothing multisc reads). Both commits are served.

``truncate`` names files served short by the CDN (the full length announced, half the bytes
sent): a download cut off mid-file. ``endless`` names files whose body has no length and
does not end (bounded here: 64 MiB or 60 s); ``trickle`` names files sent one byte every
0.5 s (bounded: 60 s). Both as the CDN and torch hub's server would be if hostile.

Not served here: Xet storage. On the real Hub some files (BLIP's ``pytorch_model.bin``
among them) are Xet-backed and huggingface_hub fetches them through ``hf_xet`` from a CAS
server when that package is installed; this server sends no ``X-Xet-*`` headers, so every
file comes over plain HTTP, which is huggingface_hub's own fallback.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlparse

from multisc.models import REGISTRY

LFS_SUFFIXES = (".safetensors", ".bin", ".h5", ".msgpack", ".pth", ".onnx")
CDN_HOST = "127.0.0.2"  # a second loopback address: another host, as the real CDN is


def _handler(answer):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet
            pass

        def do_HEAD(self) -> None:
            answer(self, head=True)

        def do_GET(self) -> None:
            answer(self, head=False)

    return Handler


class LocalHub:
    """``with LocalHub(root) as hub:`` serves ``root`` at ``hub.url`` (127.0.0.1) and its
    CDN at ``hub.cdn_url`` (127.0.0.2), free ports. ``hub.requests`` lists (method, path)
    of the Hub's requests, ``hub.cdn_requests`` (method, path, Range) of the CDN's."""

    def __init__(
        self,
        root: str | Path,
        truncate: tuple[str, ...] = (),
        gated: tuple[str, ...] = (),
        commits: dict[str, str] | None = None,
        heads: dict[str, str] | None = None,
        page_size: int = 4,
        endless: tuple[str, ...] = (),
        trickle: tuple[str, ...] = (),
        etag: str | None = None,
    ) -> None:
        self.root = Path(root)
        self.truncate = set(truncate)
        self.endless = set(endless)
        self.trickle = set(trickle)
        self.etag = etag  # sent for every LFS file instead of its digest (a hostile server)
        self.gated = set(gated)
        self.commits = dict(commits or {})
        self.heads = dict(heads or {})
        self.page_size = page_size
        self.requests: list[tuple[str, str]] = []
        self.cdn_requests: list[tuple[str, str, str]] = []
        self._blobs: dict[str, Path] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self._answer))
        self._cdn = ThreadingHTTPServer((CDN_HOST, 0), _handler(self._answer_cdn))
        self._threads = [
            threading.Thread(target=s.serve_forever, daemon=True) for s in (self._server, self._cdn)
        ]

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def cdn_url(self) -> str:
        host, port = self._cdn.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> LocalHub:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        for server in (self._server, self._cdn):
            server.shutdown()
            server.server_close()

    # -- repository facts --------------------------------------------------------------

    def _repo(self, repo_id: str) -> Path | None:
        path = self.root / repo_id
        return path if repo_id.count("/") == 1 and path.is_dir() else None

    def _files(self, repo: Path) -> list[str]:
        return sorted(str(p.relative_to(repo)) for p in repo.rglob("*") if p.is_file())

    def commit(self, repo_id: str) -> str:
        """The commit ``repo_id`` is served at (what its manifest pins, by default)."""
        if repo_id in self.commits:
            return self.commits[repo_id]
        pinned = next((e.revision for e in REGISTRY.values() if e.repo_id == repo_id), None)
        if pinned:
            return pinned
        digest = hashlib.sha1()
        repo = self.root / repo_id
        for name in self._files(repo):
            digest.update(name.encode())
            digest.update(str((repo / name).stat().st_size).encode())
        return digest.hexdigest()

    def _resolve(self, repo_id: str, revision: str) -> str | None:
        commit = self.commit(repo_id)
        head = self.heads.get(repo_id, commit)
        if revision == "main":
            return head
        return revision if revision in (commit, head) else None

    @staticmethod
    def _git_oid(data: bytes) -> str:
        return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()

    def _entry(self, repo: Path, name: str) -> dict:
        path = repo / name
        if path.is_dir():
            return {"type": "directory", "path": name, "oid": self._git_oid(name.encode())}
        data = path.read_bytes()
        entry = {"type": "file", "path": name, "size": len(data), "oid": self._git_oid(data)}
        if name.endswith(LFS_SUFFIXES):
            entry["lfs"] = {
                "oid": hashlib.sha256(data).hexdigest(),
                "size": len(data),
                "pointerSize": 134,
            }
        return entry

    def _listing(self, repo: Path, prefix: str, recursive: bool) -> list[str]:
        base = repo / prefix if prefix else repo
        if not base.is_dir():
            return []
        paths = base.rglob("*") if recursive else base.iterdir()
        return sorted(str(p.relative_to(repo)) for p in paths)

    # -- HTTP: the Hub -------------------------------------------------------------------

    def _answer(self, request: BaseHTTPRequestHandler, head: bool) -> None:
        parsed = urlparse(request.path)
        path = unquote(parsed.path)
        self.requests.append((request.command, path))
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "models"] and len(parts) >= 6:
            return self._api(request, parts, parse_qs(parsed.query))
        if parts[:1] == ["models"] and len(parts) == 2:
            return self._torch_file(request, parts[1], head)
        if len(parts) >= 5 and parts[2] == "resolve":
            return self._resolve_file(request, "/".join(parts[:2]), parts[3], parts[4:], head)
        return self._error(request, 404, "EntryNotFound")

    def _refused(self, request, repo_id: str) -> bool:
        """Answer 401 for a missing or gated repo, as the Hub does; True when it did."""
        if self._repo(repo_id) is None:
            self._error(request, 401, "RepoNotFound", message="Repository not found")
            return True
        if repo_id in self.gated:
            self._error(
                request, 401, "GatedRepo", message="Access to this repository is restricted"
            )
            return True
        return False

    def _api(self, request, parts: list[str], query: dict) -> None:
        repo_id = "/".join(parts[2:4])
        if self._refused(request, repo_id):
            return None
        repo = self.root / repo_id
        commit = self._resolve(repo_id, parts[5])
        if commit is None:
            return self._error(request, 404, "RevisionNotFound", message="Invalid rev id")
        if parts[4] == "revision":
            siblings = [
                {"rfilename": n, "size": (repo / n).stat().st_size} for n in self._files(repo)
            ]
            info = {"id": repo_id, "sha": commit, "siblings": siblings, "private": False}
            return self._json(request, {**info, "gated": False, "disabled": False, "tags": []})
        if parts[4] == "tree":
            recursive = query.get("recursive", ["false"])[0].lower() == "true"
            names = self._listing(repo, "/".join(parts[6:]), recursive)
            start = int(query.get("cursor", ["0"])[0])
            page = [self._entry(repo, n) for n in names[start : start + self.page_size]]
            link = None
            if start + self.page_size < len(names):
                here = urlparse(request.path)
                rest = f"recursive={str(recursive).lower()}&cursor={start + self.page_size}"
                link = f'<{self.url}{quote(unquote(here.path))}?{rest}>; rel="next"'
            return self._json(request, page, link)
        return self._error(request, 404, "EntryNotFound")

    def _resolve_file(self, request, repo_id: str, revision: str, rest: list[str], head: bool):
        if self._refused(request, repo_id):
            return None
        commit = self._resolve(repo_id, revision)
        if commit is None:
            return self._error(request, 404, "RevisionNotFound", message="Invalid rev id")
        name = "/".join(rest)
        path = self.root / repo_id / name
        if not path.is_file():
            return self._error(request, 404, "EntryNotFound", commit=commit)
        data = path.read_bytes()
        if name.endswith(LFS_SUFFIXES):
            sha = hashlib.sha256(data).hexdigest()
            self._blobs[sha] = path
            request.send_response(302)
            request.send_header("Location", f"{self.cdn_url}/blobs/{sha}?name={quote(name)}")
            request.send_header("ETag", f'"{self._git_oid(data)}"')
            request.send_header("X-Linked-Etag", f'"{self.etag or sha}"')
            request.send_header("X-Linked-Size", str(len(data)))
            request.send_header("X-Repo-Commit", commit)
            request.send_header("Content-Length", "0")
            request.end_headers()
            return None
        return self._bytes(
            request, data, head, {"ETag": f'"{self._git_oid(data)}"', "X-Repo-Commit": commit}
        )

    def _torch_file(self, request, name: str, head: bool) -> None:
        path = self.root / "torch-models" / name
        if not path.is_file():
            return self._error(request, 404, "EntryNotFound")
        if not head and name in self.endless | self.trickle:
            return self._hostile(request, path.read_bytes(), endless=name in self.endless)
        return self._bytes(request, path.read_bytes(), head, {}, truncate=name in self.truncate)

    # -- HTTP: the CDN -------------------------------------------------------------------

    def _answer_cdn(self, request: BaseHTTPRequestHandler, head: bool) -> None:
        parsed = urlparse(request.path)
        parts = unquote(parsed.path).strip("/").split("/")
        self.cdn_requests.append((request.command, request.path, request.headers.get("Range", "")))
        path = self._blobs.get(parts[1]) if parts[0] == "blobs" and len(parts) == 2 else None
        if path is None:
            return self._error(request, 404, "EntryNotFound")
        data = path.read_bytes()
        etag = {"ETag": f'"{parts[1]}"'}
        if not head and path.name in self.endless | self.trickle:
            return self._hostile(request, data, endless=path.name in self.endless)
        ranged = request.headers.get("Range", "")
        if ranged.startswith("bytes="):
            first, _, last = ranged[len("bytes=") :].partition("-")
            start, end = int(first or 0), int(last) if last else len(data) - 1
            body = data[start : end + 1]
            headers = {
                **etag,
                "Content-Range": f"bytes {start}-{start + len(body) - 1}/{len(data)}",
            }
            return self._bytes(
                request, body, head, headers, status=206, truncate=path.name in self.truncate
            )
        return self._bytes(request, data, head, etag, truncate=path.name in self.truncate)

    # -- answers -------------------------------------------------------------------------

    @staticmethod
    def _hostile(request, data: bytes, endless: bool) -> None:
        """An endless body without a length, or ``data`` one byte every 0.5 s; both stop
        when the client goes away, and within their bounds (loopback only)."""
        import time

        request.send_response(200)
        request.send_header("Content-Type", "application/octet-stream")
        if not endless:
            request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        started = time.monotonic()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, OSError):
            if endless:
                block = b"\0" * (1 << 20)
                for _ in range(64):
                    if time.monotonic() - started > 60:
                        break
                    request.wfile.write(block)
            else:
                for byte in data:
                    if time.monotonic() - started > 60:
                        break
                    request.wfile.write(bytes([byte]))
                    request.wfile.flush()
                    time.sleep(0.5)
        request.close_connection = True

    @staticmethod
    def _bytes(
        request, data: bytes, head: bool, headers: dict, status: int = 200, truncate: bool = False
    ):
        request.send_response(status)
        request.send_header("Content-Length", str(len(data)))
        request.send_header("Content-Type", "application/octet-stream")
        for key, value in headers.items():
            request.send_header(key, value)
        request.end_headers()
        if head:
            return
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            request.wfile.write(data[: len(data) // 2] if truncate else data)

    @staticmethod
    def _json(request, payload, link: str | None = None) -> None:
        body = json.dumps(payload).encode()
        request.send_response(200)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(body)))
        if link:
            request.send_header("Link", link)
        request.end_headers()
        request.wfile.write(body)

    @staticmethod
    def _error(request, status: int, code: str, commit: str = "", message: str = "") -> None:
        body = json.dumps({"error": message or code}).encode()
        request.send_response(status)
        request.send_header("X-Error-Code", code)
        if message:
            request.send_header("X-Error-Message", message)
        if commit:
            request.send_header("X-Repo-Commit", commit)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)
