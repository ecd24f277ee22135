"""A small listings API that serves the sample company's online data over loopback.

It behaves like the ratings/social APIs a company would pull from, so the client is tested
against the real protocol: API key in a header, cursor pagination, `updated_since`
filtering, a request-rate limit answered with 429 + Retry-After, and (optionally) injected
transient 503s to exercise retries. It binds to 127.0.0.1 only.
"""

from __future__ import annotations

import json
import threading
import time
from bisect import bisect_right
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse


class ListingsStore:
    """Records sorted by (updated_at, id): a cursor is simply the position after a page."""

    def __init__(self, records: list[dict]) -> None:
        self.records = sorted(records, key=lambda r: (r["updated_at"], r["id"]))
        self.keys = [r["updated_at"] for r in self.records]

    @classmethod
    def from_jsonl(cls, path: Path) -> ListingsStore:
        with path.open(encoding="utf-8") as handle:
            return cls([json.loads(line) for line in handle if line.strip()])

    def page(
        self, updated_since: str | None, cursor: int, size: int
    ) -> tuple[list[dict], int | None]:
        start = max(cursor, bisect_right(self.keys, updated_since) if updated_since else 0)
        chunk = self.records[start : start + size]
        following = start + size
        return chunk, (following if following < len(self.records) else None)


class _RateLimiter:
    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second
        self.next_free = 0.0
        self.lock = threading.Lock()

    def retry_after(self) -> float:
        """0 when the request may proceed, else seconds to wait."""
        with self.lock:
            now = time.monotonic()
            if now >= self.next_free:
                self.next_free = now + self.interval
                return 0.0
            return self.next_free - now


def make_server(
    store: ListingsStore,
    api_key: str,
    port: int = 0,
    max_requests_per_second: float = 50.0,
    fail_every: int = 0,
) -> ThreadingHTTPServer:
    limiter = _RateLimiter(max_requests_per_second)
    counter = {"requests": 0}
    counter_lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args) -> None:  # keep pipeline logs clean
            return

        def _send(self, status: int, body: dict, headers: dict | None = None) -> None:
            payload = json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:  # noqa: N802 (http.server naming)
            url = urlparse(self.path)
            if url.path == "/health":
                return self._send(200, {"status": "ok", "records": len(store.records)})
            if url.path != "/v1/listings":
                return self._send(404, {"error": f"no route {url.path}"})
            if self.headers.get("X-API-Key") != api_key:
                return self._send(401, {"error": "missing or invalid X-API-Key"})
            with counter_lock:
                counter["requests"] += 1
                flaky = fail_every and counter["requests"] % fail_every == 0
            if flaky:
                return self._send(503, {"error": "temporarily unavailable"})
            wait = limiter.retry_after()
            if wait:
                return self._send(
                    429, {"error": "rate limit exceeded"}, {"Retry-After": f"{wait:.3f}"}
                )
            query = parse_qs(url.query)
            try:
                size = min(int(query.get("page_size", ["100"])[0]), 1000)
                cursor = int(query.get("cursor", ["0"])[0])
            except ValueError:
                return self._send(400, {"error": "page_size and cursor must be integers"})
            since = query.get("updated_since", [None])[0]
            data, following = store.page(since, cursor, size)
            return self._send(
                200,
                {"data": data, "next_cursor": None if following is None else str(following)},
            )

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


class BackgroundServer:
    """Run the API in a daemon thread for the length of a `with` block."""

    def __init__(self, data_file: Path, api_key: str, port: int = 0, **options) -> None:
        self.server = make_server(ListingsStore.from_jsonl(data_file), api_key, port, **options)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> BackgroundServer:
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
