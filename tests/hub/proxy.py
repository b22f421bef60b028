"""A forward HTTP proxy on loopback, for networks where the Hub is only reachable through one.

It forwards absolute-URI requests (``GET http://host:port/path``), mapping the host names in
``hosts`` to loopback addresses (``hub.invalid`` -> 127.0.0.1: a name that no resolver
knows, so a client that ignores the proxy cannot reach it). Redirects are passed through,
not followed. Every request it forwarded is in ``proxy.requests``.
"""

from __future__ import annotations

import contextlib
import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


class LoopbackProxy:
    def __init__(self, hosts: dict[str, str]) -> None:
        self.hosts = dict(hosts)
        self.requests: list[tuple[str, str]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                proxy._forward(self)

            def do_HEAD(self) -> None:
                proxy._forward(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> LoopbackProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _forward(self, request: BaseHTTPRequestHandler) -> None:
        target = urlsplit(request.path)
        if not target.hostname:  # not a proxy request
            request.send_error(400)
            return
        self.requests.append((request.command, request.path))
        host = self.hosts.get(target.hostname, target.hostname)
        upstream = http.client.HTTPConnection(host, target.port or 80, timeout=30)
        path = target.path + (f"?{target.query}" if target.query else "")
        headers = {k: v for k, v in request.headers.items() if k.lower() != "proxy-connection"}
        try:
            upstream.request(request.command, path, headers=headers)
            answer = upstream.getresponse()
            body = answer.read()
        except OSError:
            request.send_error(502)
            return
        finally:
            upstream.close()
        request.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in ("transfer-encoding", "connection"):
                request.send_header(key, value)
        request.end_headers()
        if request.command != "HEAD":
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                request.wfile.write(body)
