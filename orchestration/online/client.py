"""Pull online listings from an HTTP JSON API into the landing folder.

The pull is what a production client does: API key from the environment, cursor
pagination, a client-side request-rate cap, retries with exponential backoff on 429/5xx
and connection errors (honouring Retry-After), and incremental pulls from an
`updated_since` watermark. Each pull is landed as one newline-delimited JSON file, so the
raw answer is kept and loaded like any other delivery.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import requests

from orchestration.config import OnlineApi

RETRYABLE_STATUS = {429, 500, 502, 503, 504}


class OnlineSourceError(RuntimeError):
    """The API could not be pulled; says which URL and why."""


@dataclass
class PullResult:
    file: Path | None
    records: int
    pages: int
    requests: int
    retries: int
    watermark: str | None


class ListingsClient:
    def __init__(self, api: OnlineApi, session: requests.Session | None = None) -> None:
        self.api = api
        self.base_url = api.resolved_base_url().rstrip("/")
        key = os.environ.get(api.api_key_env)
        if not key:
            raise OnlineSourceError(
                f"environment variable {api.api_key_env} (sources.online_presence.api.api_key_env) "
                "is not set: the online API key is needed to pull listings"
            )
        self.session = session or requests.Session()
        self.session.headers.update({"X-API-Key": key, "Accept": "application/json"})
        self._last_request = 0.0
        self.requests = 0
        self.retries = 0

    def _throttle(self) -> None:
        gap = 1.0 / self.api.max_requests_per_second
        wait = self._last_request + gap - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._last_request = time.monotonic()

    def _get(self, params: dict) -> dict:
        url = self.base_url + self.api.endpoint
        problem = ""
        for attempt in range(self.api.max_retries + 1):
            self._throttle()
            self.requests += 1
            try:
                response = self.session.get(url, params=params, timeout=self.api.timeout_seconds)
            except requests.RequestException as exc:
                problem, retry_after = f"connection error: {exc}", None
            else:
                if response.status_code == 200:
                    return response.json()
                if response.status_code not in RETRYABLE_STATUS:
                    raise OnlineSourceError(
                        f"GET {url} answered {response.status_code}: {response.text[:200]}"
                    )
                problem = f"HTTP {response.status_code}"
                retry_after = response.headers.get("Retry-After")
            if attempt == self.api.max_retries:
                break
            self.retries += 1
            backoff = self.api.backoff_seconds * (2**attempt)
            time.sleep(max(backoff, float(retry_after)) if retry_after else backoff)
        raise OnlineSourceError(
            f"GET {url} failed after {self.api.max_retries + 1} attempts: {problem}"
        )

    def pull(
        self,
        landing_dir: Path,
        updated_since: str | None,
        log: Callable[[str], None] | None = None,
        log_every_pages: int = 20,
    ) -> PullResult:
        """Pull every record changed after the watermark into one landed JSONL file.

        `log` gets a progress line every `log_every_pages` pages: the API gives no total up
        front, so the line says what is done (pages, records, newest update seen)."""
        landing_dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        final = landing_dir / f"listings_{stamp}.jsonl"
        partial = final.with_suffix(".partial")
        params = {"page_size": self.api.page_size}
        if updated_since:
            params["updated_since"] = updated_since
        records, pages, watermark = 0, 0, updated_since
        try:
            with partial.open("w", encoding="utf-8") as out:
                cursor = None
                while True:
                    body = self._get({**params, **({"cursor": cursor} if cursor else {})})
                    pages += 1
                    for record in body.get("data", []):
                        out.write(json.dumps(record, ensure_ascii=False) + "\n")
                        records += 1
                        updated = record.get("updated_at")
                        if updated and (watermark is None or updated > watermark):
                            watermark = updated
                    cursor = body.get("next_cursor")
                    if not cursor:
                        break
                    if log is not None and pages % log_every_pages == 0:
                        log(f"pulled {pages} pages, {records:,} records so far (up to {watermark})")
        except BaseException:
            # A failed pull leaves nothing behind: the next night pulls from the same watermark.
            partial.unlink(missing_ok=True)
            raise
        if records == 0:
            partial.unlink()
            return PullResult(None, 0, pages, self.requests, self.retries, watermark)
        # Only a complete pull becomes visible to ingestion (same-directory rename is atomic).
        partial.replace(final)
        return PullResult(final, records, pages, self.requests, self.retries, watermark)
