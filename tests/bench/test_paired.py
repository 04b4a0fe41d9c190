"""Paired ratios: each repetition's pair divided, a repetition missing a target left out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench.paired import main, paired_ratios


def result(target: str, rep: int, cpu: float, case: str = "http") -> dict[str, object]:
    return {"target": target, "rep": rep, "case": case, "metrics": {"requests_per_s": cpu}}


RESULTS = [
    result("new", 0, 110.0),
    result("old", 0, 100.0),
    result("new", 1, 60.0),  # a slow spell hits both of this repetition
    result("old", 1, 50.0),
    result("new", 2, 99.0),  # no "old" in this repetition
]


def test_each_repetition_is_divided_on_its_own() -> None:
    ratios = paired_ratios(RESULTS, "new", "old")
    assert ratios == {("http", "requests_per_s"): [pytest.approx(1.1), pytest.approx(1.2)]}


def test_the_command_prints_the_median_and_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"results": RESULTS}))
    assert main([str(path), "new", "old"]) == 0
    assert "http | requests_per_s: 1.150 [1.100-1.200, 2]" in capsys.readouterr().out
    assert main([str(path), "new", "nobody"]) == 1
