"""The run's plan (which ceiling server runs where), scale overrides and its preflight checks."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bench import run
from bench import scenarios as sc


def test_each_scenario_gets_its_own_ceiling_in_the_first_rep_only() -> None:
    args = run.parse_args(["--reps", "2", "--scenarios", "idle,presence,http,channels"])
    steps = run.plan(args)
    first = {(s, t) for rep, s, t in steps if rep == 0}
    assert ("idle", "trivial") in first and ("presence", "trivial") not in first
    assert ("http", "trivial-c") in first and ("channels", "trivial-c") in first
    assert ("http", "trivial") not in first
    assert not any(t.startswith("trivial") for rep, _, t in steps if rep == 1)
    assert [t for rep, s, t in steps if rep == 1 and s == "http"] == ["soketi", "tidings"]


def test_no_ceiling_and_unsupported_targets() -> None:
    args = run.parse_args(
        ["--no-ceiling", "--reps", "1", "--scenarios", "http,fanout", "--targets", "trivial-c"]
    )
    assert run.plan(args) == [(0, "http", "trivial-c")]  # no batch publishing in the C server


def test_set_overrides_sizes_by_field_type() -> None:
    args = run.parse_args(
        [
            "--quick",
            "--set",
            "channels_sockets=2000",
            "--set",
            "idle_steps=10000,15000",
            "--set",
            "idle-max=yes",
            "--set",
            "wrk_check=false",
            "--set",
            "channels_seconds=1.5",
        ]
    )
    scale = args.scale
    assert scale.channels_sockets == 2000 and scale.idle_steps == (10000, 15000)
    assert scale.idle_max is True and scale.wrk_check is False
    assert scale.channels_seconds == 1.5
    assert scale.latency_subscribers == sc.QUICK.latency_subscribers  # the rest stays quick


@pytest.mark.parametrize("bad", ["nope=1", "channels_sockets=many", "idle_max=maybe", "http"])
def test_bad_overrides_are_refused(bad: str) -> None:
    with pytest.raises(SystemExit):
        run.parse_args(["--set", bad])


def test_max_sockets_leaves_a_reserve_under_the_file_limit() -> None:
    assert run.max_sockets(20000) == 19000
    assert run.max_sockets(5500) == 4000
    assert run.max_sockets(1 << 20) < 65536  # then the ephemeral ports bound it


def test_the_max_step_is_added_only_when_above_the_others() -> None:
    assert sc.idle_steps(replace(sc.FULL, max_sockets=19000)) == [1000, 5000, 10000, 19000]
    assert sc.idle_steps(replace(sc.FULL, max_sockets=0)) == [1000, 5000, 10000]
    assert sc.idle_steps(replace(sc.QUICK, max_sockets=19000)) == [200, 500, 1000]  # idle_max off


def test_preflight_names_the_missing_wrk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIDINGS_BENCH_WRK", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    message = run.preflight([(0, "http", "tidings")])
    assert message is not None and "apt-get install wrk" in message
    assert "--scenarios idle,fanout,latency,presence" in message


def test_the_history_scenario_is_opt_in_and_runs_on_tidings_only() -> None:
    assert "history" not in run.parse_args([]).scenarios
    args = run.parse_args(["--reps", "1", "--scenarios", "history", "--targets", "tidings,soketi"])
    assert run.plan(args) == [(0, "history", "tidings")]  # no ceiling, soketi keeps no history


def test_the_nodes_scenario_is_opt_in_and_runs_on_the_node_targets_only() -> None:
    assert "nodes" not in run.parse_args([]).scenarios
    args = run.parse_args(
        ["--reps", "1", "--scenarios", "nodes,fanout", "--targets", "tidings,tidings-cluster"]
    )
    assert run.plan(args) == [
        (0, "nodes", "tidings-cluster"),  # no ceiling, not on plain tidings
        (0, "fanout", "tidings"),
        (0, "fanout", "trivial"),
    ]
    with pytest.raises(SystemExit):  # on none of them: say which targets it needs
        run.parse_args(["--scenarios", "nodes", "--targets", "tidings,soketi"])
