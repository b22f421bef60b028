"""A local Hugging Face Hub on loopback: what ``huggingface_hub`` needs for
``snapshot_download`` / ``hf_hub_download``, and what torch hub needs for a checkpoint URL.

It serves ``root/<org>/<name>/...`` as the repo ``org/name`` at one commit, and
``root/torch-models/<file>`` as ``/models/<file>`` (point ``MULTISC_TORCH_MODELS_URL`` at
``<url>/models/``). Endpoints (as the real Hub answers them, enough for huggingface_hub 1-2):

- ``GET /api/models/{repo}/revision/{rev}``: repo info (``sha``, ``siblings`` with sizes);
- ``GET /api/models/{repo}/tree/{rev}[/{path}]``: the file listing (LFS entries for weights);
- ``HEAD``/``GET /{repo}/resolve/{rev}/{path}``: a file, with ``X-Repo-Commit``, ``ETag``
  (the sha256 for LFS files, as the Hub gives it) and ``Content-Length``; ``Range`` honoured;
- unknown repos and files: 404 with ``X-Error-Code`` (``RepositoryNotFound`` /
  ``EntryNotFound``).

``truncate`` names files served short (the full length announced, fewer bytes sent): a
download cut off mid-file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

LFS_SUFFIXES = (".safetensors", ".bin", ".h5", ".msgpack", ".pth", ".onnx")


class LocalHub:
    """``with LocalHub(root) as hub:`` serves ``root`` at ``hub.url`` (127.0.0.1, a free port)."""

    def __init__(self, root: str | Path, truncate: tuple[str, ...] = ()) -> None:
        self.root = Path(root)
        self.truncate = set(truncate)
        self.requests: list[tuple[str, str]] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_HEAD(self) -> None:
                hub._answer(self, head=True)

            def do_GET(self) -> None:
                hub._answer(self, head=False)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> LocalHub:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- repository facts --------------------------------------------------------------

    def _repo(self, repo_id: str) -> Path | None:
        path = self.root / repo_id
        return path if repo_id.count("/") == 1 and path.is_dir() else None

    def _files(self, repo: Path) -> list[str]:
        return sorted(str(p.relative_to(repo)) for p in repo.rglob("*") if p.is_file())

    def commit(self, repo: Path) -> str:
        digest = hashlib.sha1()
        for name in self._files(repo):
            digest.update(name.encode())
            digest.update(str((repo / name).stat().st_size).encode())
        return digest.hexdigest()

    @staticmethod
    def _git_oid(data: bytes) -> str:
        return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()

    def _entry(self, repo: Path, name: str) -> dict:
        data = (repo / name).read_bytes()
        entry = {"type": "file", "path": name, "size": len(data), "oid": self._git_oid(data)}
        if name.endswith(LFS_SUFFIXES):
            entry["lfs"] = {
                "oid": hashlib.sha256(data).hexdigest(),
                "size": len(data),
                "pointerSize": 134,
            }
        return entry

    # -- HTTP ----------------------------------------------------------------------------

    def _answer(self, request: BaseHTTPRequestHandler, head: bool) -> None:
        path = unquote(urlparse(request.path).path)
        self.requests.append((request.command, path))
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "models"] and len(parts) >= 6:
            repo = self._repo("/".join(parts[2:4]))
            if repo is None:
                return self._error(request, 404, "RepositoryNotFound")
            if parts[4] == "revision":
                siblings = [
                    {"rfilename": n, "size": (repo / n).stat().st_size} for n in self._files(repo)
                ]
                return self._json(
                    request,
                    {
                        "id": "/".join(parts[2:4]),
                        "sha": self.commit(repo),
                        "siblings": siblings,
                        "private": False,
                        "gated": False,
                        "disabled": False,
                        "tags": [],
                    },
                )
            if parts[4] == "tree":
                prefix = "/".join(parts[6:])
                entries = [self._entry(repo, n) for n in self._files(repo) if n.startswith(prefix)]
                return self._json(request, entries)
        if parts[:1] == ["models"] and len(parts) == 2:
            return self._file(request, self.root / "torch-models", parts[1], head, "")
        if len(parts) >= 5 and parts[2] == "resolve":
            repo = self._repo("/".join(parts[:2]))
            if repo is None:
                return self._error(request, 404, "RepositoryNotFound")
            return self._file(request, repo, "/".join(parts[4:]), head, self.commit(repo))
        return self._error(request, 404, "EntryNotFound")

    def _file(self, request, folder: Path, name: str, head: bool, commit: str) -> None:
        path = folder / name
        if not path.is_file():
            return self._error(request, 404, "EntryNotFound", commit)
        data = path.read_bytes()
        etag = (
            hashlib.sha256(data).hexdigest() if name.endswith(LFS_SUFFIXES) else self._git_oid(data)
        )
        start = 0
        ranged = request.headers.get("Range", "")
        if ranged.startswith("bytes="):
            start = int(ranged[len("bytes=") :].split("-")[0] or 0)
        body = data[start:]
        request.send_response(206 if start else 200)
        request.send_header("Content-Length", str(len(body)))
        request.send_header("ETag", f'"{etag}"')
        if commit:
            request.send_header("X-Repo-Commit", commit)
        request.send_header("Content-Type", "application/octet-stream")
        request.end_headers()
        if head:
            return
        if name in self.truncate or path.name in self.truncate:
            body = body[: len(body) // 2]
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            request.wfile.write(body)

    @staticmethod
    def _json(request, payload) -> None:
        body = json.dumps(payload).encode()
        request.send_response(200)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    @staticmethod
    def _error(request, status: int, code: str, commit: str = "") -> None:
        body = json.dumps({"error": code}).encode()
        request.send_response(status)
        request.send_header("X-Error-Code", code)
        if commit:
            request.send_header("X-Repo-Commit", commit)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)
