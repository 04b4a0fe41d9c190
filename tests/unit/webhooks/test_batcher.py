"""The batching rules, driven by a hand-held clock: what goes in which request, and when."""

from __future__ import annotations

from tidings.apps import App, WebhookTarget
from tidings.events import HubEvent, HubEventKind
from tidings.webhooks.batcher import Batcher, Departure

ALL = WebhookTarget("http://receiver.test/all")
APP = App(id="1", key="k1", secret="s1", webhooks=(ALL,))
OTHER = App(id="2", key="k2", secret="s2", webhooks=(ALL,))


def names(batch_events: tuple[dict[str, object], ...]) -> list[object]:
    return [event["name"] for event in batch_events]


def test_events_inside_the_window_share_one_batch_that_closes_when_the_window_ends() -> None:
    batcher = Batcher(window=1.0, max_events=None, vacate_delay=3.0)
    assert batcher.add(APP, HubEvent(HubEventKind.CHANNEL_OCCUPIED, "1", "a"), now=0.0) == []
    assert batcher.add(APP, HubEvent(HubEventKind.CACHE_MISS, "1", "cache-a"), now=0.5) == []
    assert batcher.next_deadline() == 1.0
    assert batcher.due(0.99) == []
    [batch] = batcher.due(1.0)
    assert batch.app_id == "1" and batch.target is ALL
    assert batch.events == (
        {"name": "channel_occupied", "channel": "a"},
        {"name": "cache_miss", "channel": "cache-a"},
    )
    assert batcher.next_deadline() is None and len(batcher) == 0


def test_a_full_batch_goes_at_once() -> None:
    batcher = Batcher(window=10.0, max_events=2, vacate_delay=0)
    assert batcher.add(APP, HubEvent(HubEventKind.CHANNEL_OCCUPIED, "1", "a"), 0.0) == []
    [batch] = batcher.add(APP, HubEvent(HubEventKind.CHANNEL_OCCUPIED, "1", "b"), 0.1)
    assert [event["channel"] for event in batch.events] == ["a", "b"]
    assert batcher.next_deadline() is None


def test_two_apps_never_share_a_batch_even_with_the_same_target() -> None:
    batcher = Batcher(window=1.0, max_events=None, vacate_delay=0)
    batcher.add(APP, HubEvent(HubEventKind.CHANNEL_OCCUPIED, "1", "mine"), 0.0)
    batcher.add(OTHER, HubEvent(HubEventKind.CHANNEL_OCCUPIED, "2", "theirs"), 0.0)
    batches = batcher.due(1.0)
    assert sorted((b.app_id, b.events[0]["channel"]) for b in batches) == [
        ("1", "mine"),
        ("2", "theirs"),
    ]


def test_each_target_gets_only_its_event_types_and_channel_prefix() -> None:
    presence_only = WebhookTarget(
        "http://receiver.test/members",
        event_types=("member_added", "member_removed"),
        channel_prefix="presence-",
    )
    app = App(id="1", key="k", secret="s", webhooks=(ALL, presence_only))
    batcher = Batcher(window=1.0, max_events=None, vacate_delay=0)
    batcher.add(app, HubEvent(HubEventKind.CHANNEL_OCCUPIED, "1", "presence-room"), 0.0)
    batcher.add(app, HubEvent(HubEventKind.MEMBER_ADDED, "1", "presence-room", user_id="u1"), 0.0)
    batcher.add(app, HubEvent(HubEventKind.MEMBER_ADDED, "1", "private-room", user_id="u1"), 0.0)
    by_url = {b.target.url: b.events for b in batcher.due(1.0)}
    assert names(by_url["http://receiver.test/all"]) == [
        "channel_occupied",
        "member_added",
        "member_added",
    ]
    assert by_url["http://receiver.test/members"] == (
        {"name": "member_added", "channel": "presence-room", "user_id": "u1"},
    )


def test_vacated_waits_for_the_delay_then_goes_in_a_batch_once_confirmed() -> None:
    batcher = Batcher(window=0.5, max_events=None, vacate_delay=3.0)
    vacated = HubEvent(HubEventKind.CHANNEL_VACATED, "1", "a")
    batcher.add(APP, vacated, 10.0)
    assert batcher.next_deadline() == 13.0
    assert batcher.departures_due(12.9) == [] and batcher.due(12.9) == []
    [departure] = batcher.departures_due(13.0)
    assert departure == Departure(APP, vacated)
    assert len(batcher) == 0 and batcher.next_deadline() is None  # out for confirmation
    assert batcher.route(departure, 13.1) == []  # confirmed: into a batch opening now
    assert batcher.due(13.5) == []
    [batch] = batcher.due(13.6)
    assert batch.events == ({"name": "channel_vacated", "channel": "a"},)


def test_a_departure_handed_out_and_not_confirmed_is_simply_never_routed() -> None:
    batcher = Batcher(window=0.5, max_events=None, vacate_delay=3.0)
    batcher.add(APP, HubEvent(HubEventKind.MEMBER_REMOVED, "1", "presence-a", user_id="u1"), 0.0)
    assert len(batcher.departures_due(3.0)) == 1
    assert batcher.due(100.0) == [] and len(batcher) == 0


def test_a_return_elsewhere_in_the_cluster_is_dropped_without_a_local_departure() -> None:
    batcher = Batcher(window=0.5, max_events=None, vacate_delay=3.0)
    back = HubEvent(HubEventKind.CHANNEL_OCCUPIED, "1", "a", returned=True)
    again = HubEvent(HubEventKind.MEMBER_ADDED, "1", "presence-a", user_id="u1", returned=True)
    assert batcher.add(APP, back, 1.0) == [] and batcher.add(APP, again, 1.0) == []
    assert batcher.next_deadline() is None and batcher.due(100.0) == []


def test_a_quick_reconnect_cancels_both_vacated_and_occupied() -> None:
    batcher = Batcher(window=0.5, max_events=None, vacate_delay=3.0)
    batcher.add(APP, HubEvent(HubEventKind.CHANNEL_VACATED, "1", "a"), 0.0)
    batcher.add(APP, HubEvent(HubEventKind.MEMBER_REMOVED, "1", "presence-a", user_id="u1"), 0.0)
    assert batcher.add(APP, HubEvent(HubEventKind.CHANNEL_OCCUPIED, "1", "a"), 1.0) == []
    assert (
        batcher.add(APP, HubEvent(HubEventKind.MEMBER_ADDED, "1", "presence-a", user_id="u1"), 1.0)
        == []
    )
    assert batcher.due(100.0) == []
    assert len(batcher) == 0


def test_a_different_user_joining_does_not_cancel_a_member_removed() -> None:
    batcher = Batcher(window=0.5, max_events=None, vacate_delay=3.0)
    batcher.add(APP, HubEvent(HubEventKind.MEMBER_REMOVED, "1", "presence-a", user_id="u1"), 0.0)
    batcher.add(APP, HubEvent(HubEventKind.MEMBER_ADDED, "1", "presence-a", user_id="u2"), 1.0)
    batcher.add(APP, HubEvent(HubEventKind.CHANNEL_OCCUPIED, "1", "b"), 1.0)  # another channel
    assert [names(b.events) for b in batcher.due(1.5)] == [["member_added", "channel_occupied"]]
    [departure] = batcher.departures_due(3.0)
    assert departure.event == HubEvent(HubEventKind.MEMBER_REMOVED, "1", "presence-a", user_id="u1")


def test_an_occupied_without_a_pending_vacated_is_sent() -> None:
    batcher = Batcher(window=0.5, max_events=None, vacate_delay=3.0)
    batcher.add(
        OTHER, HubEvent(HubEventKind.CHANNEL_VACATED, "2", "a"), 0.0
    )  # another app's channel
    batcher.add(APP, HubEvent(HubEventKind.CHANNEL_OCCUPIED, "1", "a"), 1.0)
    [batch] = batcher.due(1.5)
    assert batch.app_id == "1" and names(batch.events) == ["channel_occupied"]


def test_only_the_latest_subscription_count_of_a_channel_stays_in_a_batch() -> None:
    batcher = Batcher(window=1.0, max_events=None, vacate_delay=0)
    for count in (1, 2, 3):
        batcher.add(
            APP, HubEvent(HubEventKind.SUBSCRIPTION_COUNT, "1", "a", subscription_count=count), 0.0
        )
    batcher.add(APP, HubEvent(HubEventKind.SUBSCRIPTION_COUNT, "1", "b", subscription_count=7), 0.0)
    [batch] = batcher.due(1.0)
    assert batch.events == (
        {"name": "subscription_count", "channel": "a", "subscription_count": 3},
        {"name": "subscription_count", "channel": "b", "subscription_count": 7},
    )


def test_client_event_bodies_carry_user_id_only_on_presence() -> None:
    batcher = Batcher(window=0.0, max_events=None, vacate_delay=0)
    private = HubEvent(
        HubEventKind.CLIENT_EVENT,
        "1",
        "private-a",
        event="client-x",
        data='{"a":1}',
        socket_id="1.2",
    )
    presence = HubEvent(
        HubEventKind.CLIENT_EVENT,
        "1",
        "presence-a",
        user_id="u1",
        event="client-y",
        data="hi",
        socket_id="1.3",
    )
    batcher.add(APP, private, 0.0)
    batcher.add(APP, presence, 0.0)
    [batch] = batcher.due(0.0)
    assert batch.events == (
        {
            "name": "client_event",
            "channel": "private-a",
            "event": "client-x",
            "data": '{"a":1}',
            "socket_id": "1.2",
        },
        {
            "name": "client_event",
            "channel": "presence-a",
            "event": "client-y",
            "data": "hi",
            "socket_id": "1.3",
            "user_id": "u1",
        },
    )


def test_at_shutdown_every_delayed_event_can_be_taken_and_every_batch_drained() -> None:
    batcher = Batcher(window=5.0, max_events=None, vacate_delay=3.0)
    batcher.add(APP, HubEvent(HubEventKind.CHANNEL_VACATED, "1", "a"), 0.0)
    batcher.add(APP, HubEvent(HubEventKind.CHANNEL_OCCUPIED, "1", "b"), 0.0)
    for departure in batcher.departures_due(float("inf")):
        batcher.route(departure, 0.1)
    [batch] = batcher.drain()
    assert names(batch.events) == ["channel_occupied", "channel_vacated"]


def test_apps_without_webhooks_are_ignored() -> None:
    batcher = Batcher(window=0.0, max_events=None, vacate_delay=0)
    batcher.add(
        App(id="3", key="k3", secret="s3"), HubEvent(HubEventKind.CHANNEL_OCCUPIED, "3", "a"), 0.0
    )
    assert batcher.due(1.0) == [] and batcher.next_deadline() is None
