from __future__ import annotations

from tidings.metrics.figures import ABRUPT, LATENCY_BOUNDS, AppFigures, Figures, Latencies, Tally


def test_an_observation_lands_in_the_first_bucket_whose_bound_holds_it() -> None:
    latencies = Latencies()
    for seconds in (0.00005, 0.0001, 0.0002, 11.0):
        latencies.observe(seconds)
    assert latencies.buckets[0] == 2  # le="0.0001" is inclusive, as Prometheus' buckets are
    assert latencies.buckets[1] == 1
    assert latencies.buckets[len(LATENCY_BOUNDS)] == 1  # +Inf
    assert latencies.count == 4
    assert abs(latencies.total - 11.00035) < 1e-9


def test_closes_are_counted_by_code_and_a_dropped_connection_is_1006() -> None:
    figures = AppFigures()
    figures.closed(4200)
    figures.closed(None)
    figures.closed(4200)
    assert figures.connections_closed == {4200: 2, ABRUPT: 1}


def test_each_app_keeps_one_set_of_figures() -> None:
    figures = Figures()
    figures.app("1").connections_opened += 1
    figures.app("1").connections_opened += 1
    figures.app("2").endpoints["trigger_event"].fail(404)
    assert figures.app("1").connections_opened == 2
    assert figures.apps()["2"].endpoints["trigger_event"].statuses() == {404: 1}


def test_a_tally_counts_its_bumps_and_reading_it_adds_none() -> None:
    tally = Tally()
    assert tally.value() == 0
    for _ in range(3):
        tally.bump()
    assert tally.value() == 3
    assert tally.value() == 3
    tally.bump()
    assert tally.value() == 4


def test_api_events_are_the_publishing_endpoints_answers_plus_their_extra_events() -> None:
    figures = AppFigures()
    trigger, listing = figures.endpoints["trigger_event"], figures.endpoints["list_channels"]
    trigger.events_per_answer = 1
    for _ in range(2):
        trigger.answered.bump()
        listing.answered.bump()
    figures.extra_api_events += 4  # one of the triggers went to 5 channels
    assert figures.api_events() == 6
    assert listing.statuses() == {200: 2}
