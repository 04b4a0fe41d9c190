"""Paired ratios of two targets of one bench.run, repetition by repetition: pricing a change.

Two targets of the same run take turns in every repetition, so a slow spell of the machine
hits both; the ratio within each repetition cancels it, and the median of those ratios is
steadier than the ratio of medians the report shows.

    .venv/bin/python -m bench.paired bench/results/http-ab-sampled/latest.json tidings tidings-base

For each case and metric both targets have, it prints the median of the per-repetition ratios
(first target over second) with their range. Run it on an A/A pair (the same commit twice)
first: its ratios show the noise a difference has to stand out of.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

METRICS = (
    "server_cpu_us_per_request",
    "requests_per_s",
    "deliveries_per_server_cpu_s",
    "deliveries_per_s",
)


def paired_ratios(
    results: list[dict[str, Any]], first: str, second: str, metrics: tuple[str, ...] = METRICS
) -> dict[tuple[str, str], list[float]]:
    """``(case, metric)`` -> the ratio first/second in each repetition that has both."""
    by_rep: dict[tuple[str, int], dict[str, dict[str, float]]] = defaultdict(dict)
    for result in results:
        # A case that failed has no metrics: it pairs with nothing.
        by_rep[(result["case"], result["rep"])][result["target"]] = result.get("metrics") or {}
    ratios: dict[tuple[str, str], list[float]] = defaultdict(list)
    for (case, _), targets in sorted(by_rep.items()):
        if first not in targets or second not in targets:
            continue
        for metric in metrics:
            a, b = targets[first].get(metric), targets[second].get(metric)
            if a is not None and b:
                ratios[(case, metric)].append(a / b)
    return dict(ratios)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path, help="a bench.run JSON file")
    parser.add_argument("first")
    parser.add_argument("second")
    args = parser.parse_args(argv)
    results = json.loads(args.results.read_text())["results"]
    ratios = paired_ratios(results, args.first, args.second)
    if not ratios:
        print(f"no repetition has both {args.first} and {args.second}", file=sys.stderr)
        return 1
    print(f"{args.first} / {args.second}, median of per-repetition ratios [min-max, n]")
    for (case, metric), values in ratios.items():
        median = statistics.median(values)
        print(
            f"{case} | {metric}: {median:.3f} [{min(values):.3f}-{max(values):.3f}, {len(values)}]"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
