"""Adding up the workers of ``--workers N``: counters always, gauges of live workers only."""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from tidings.server.metrics.share import merge, to_snapshot


def families(
    connections: float, opened: float, nodes: float = 2, started: float = 1.0
) -> list[Metric]:
    gauge = GaugeMetricFamily("tidings_connections", "open", labels=["app_id"])
    gauge.add_metric(["1"], connections)
    counter = CounterMetricFamily("tidings_connections_opened", "opened", labels=["app_id"])
    counter.add_metric(["1"], opened)
    cluster = GaugeMetricFamily("tidings_cluster_nodes", "nodes")
    cluster.add_metric([], nodes)
    start = GaugeMetricFamily("process_start_time_seconds", "start")
    start.add_metric([], started)
    return [gauge, counter, cluster, start]


def values(merged: list[Metric]) -> dict[str, float]:
    return {sample.name: sample.value for family in merged for sample in family.samples}


def test_a_live_workers_gauges_and_counters_are_added() -> None:
    other = to_snapshot(families(3, 10))
    merged = values(merge(families(2, 5), [(other, True)]))
    assert merged["tidings_connections"] == 5
    assert merged["tidings_connections_opened_total"] == 15


def test_a_gone_workers_counters_stay_but_its_gauges_do_not() -> None:
    gone = to_snapshot(families(3, 10))
    merged = values(merge(families(2, 5), [(gone, False)]))
    assert merged["tidings_connections"] == 2
    assert merged["tidings_connections_opened_total"] == 15


def test_cluster_facts_take_the_highest_and_process_facts_stay_the_scraped_workers() -> None:
    other = to_snapshot(families(0, 0, nodes=3, started=99.0))
    merged = values(merge(families(0, 0, nodes=2, started=1.0), [(other, True)]))
    assert merged["tidings_cluster_nodes"] == 3
    assert merged["process_start_time_seconds"] == 1.0


def test_a_family_only_another_worker_has_still_appears() -> None:
    only_there = GaugeMetricFamily("tidings_webhook_queue_depth", "queued")
    only_there.add_metric([], 4)
    merged = values(merge([], [(to_snapshot([only_there]), True)]))
    assert merged == {"tidings_webhook_queue_depth": 4}
