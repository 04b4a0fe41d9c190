"""Scrape ``/metrics`` and read it with prometheus-client's own parser, as Prometheus would."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Scrape:
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float]
    types: dict[str, str]

    def value(self, name: str, **labels: str) -> float:
        """The sample with exactly these labels; 0 when it is absent (nothing counted yet)."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def total(self, name: str, **labels: str) -> float:
        """The sum over every sample of ``name`` whose labels include these."""
        wanted = set(labels.items())
        return sum(v for (n, ls), v in self.samples.items() if n == name and wanted <= ls)


def scrape(url: str) -> Scrape:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    types = {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return Scrape(samples, types)


async def scrape_until(url: str, check: Callable[[Scrape], bool], timeout: float = 10.0) -> Scrape:
    """Scrape until ``check`` holds (cleanup after a close, a worker's next snapshot)."""
    deadline = time.monotonic() + timeout
    while True:
        result = await asyncio.to_thread(scrape, url)
        if check(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"/metrics never satisfied the check: {result.samples}")
        await asyncio.sleep(0.05)
