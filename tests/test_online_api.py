"""The online listings client against the loopback server: auth, pagination, rate limit,
retries with backoff, and incremental pulls from the watermark."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestration.config import OnlineApi
from orchestration.online.client import ListingsClient, OnlineSourceError
from orchestration.online.server import BackgroundServer


def _records(n: int) -> list[dict]:
    return [
        {
            "id": f"ON{i:07d}",
            "platform": "maps",
            "name": f"Bar {i}",
            "updated_at": f"2026-{1 + i % 9:02d}-{1 + i % 28:02d}T10:00:{i % 60:02d}Z",
        }
        for i in range(n)
    ]


@pytest.fixture()
def listings(tmp_path: Path) -> Path:
    path = tmp_path / "listings.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in _records(230)) + "\n", encoding="utf-8")
    return path


def _api(url: str, **overrides) -> OnlineApi:
    settings = dict(
        base_url=url,
        api_key_env="TEST_ONLINE_KEY",
        page_size=50,
        max_requests_per_second=1000,
        max_retries=4,
        backoff_seconds=0.01,
    )
    return OnlineApi(**{**settings, **overrides})


def test_full_then_incremental_pull(listings, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_ONLINE_KEY", "k")
    with BackgroundServer(listings, "k") as server:
        client = ListingsClient(_api(server.url))
        progress = []
        first = client.pull(tmp_path / "landing", None, progress.append, log_every_pages=2)
        assert (first.records, first.pages) == (230, 5)
        # a line every 2 pages while more pages follow (pages of 50 records)
        assert [line.split(" (")[0] for line in progress] == [
            "pulled 2 pages, 100 records so far",
            "pulled 4 pages, 200 records so far",
        ]
        lines = [json.loads(x) for x in first.file.read_text(encoding="utf-8").splitlines()]
        assert len({r["id"] for r in lines}) == 230
        assert first.watermark == max(r["updated_at"] for r in _records(230))

        newer = sorted(r["updated_at"] for r in _records(230))[-7]
        second = ListingsClient(_api(server.url)).pull(tmp_path / "landing", updated_since=newer)
        assert second.records == sum(1 for r in _records(230) if r["updated_at"] > newer)
        nothing = ListingsClient(_api(server.url)).pull(tmp_path / "landing", first.watermark)
        assert nothing.records == 0 and nothing.file is None


def test_rate_limit_and_transient_errors_are_retried(listings, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_ONLINE_KEY", "k")
    with BackgroundServer(listings, "k", max_requests_per_second=40, fail_every=3) as server:
        client = ListingsClient(_api(server.url))
        result = client.pull(tmp_path / "landing", None)
    assert result.records == 230
    assert result.retries >= 2  # every third request answers 503, fast ones get 429


def test_wrong_key_fails_with_a_clear_error(listings, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_ONLINE_KEY", "wrong")
    with BackgroundServer(listings, "k") as server, pytest.raises(OnlineSourceError, match="401"):
        ListingsClient(_api(server.url)).pull(tmp_path / "landing", None)
    assert not list((tmp_path / "landing").iterdir())


def test_missing_key_names_the_variable(monkeypatch):
    monkeypatch.delenv("TEST_ONLINE_KEY", raising=False)
    with pytest.raises(OnlineSourceError, match="TEST_ONLINE_KEY"):
        ListingsClient(_api("http://127.0.0.1:9"))


def test_unreachable_server_gives_up_after_retries(monkeypatch, tmp_path):
    monkeypatch.setenv("TEST_ONLINE_KEY", "k")
    client = ListingsClient(_api("http://127.0.0.1:9", max_retries=2, timeout_seconds=0.5))
    with pytest.raises(OnlineSourceError, match="failed after 3 attempts"):
        client.pull(tmp_path / "landing", None)
