"""This node's socket index: counts, fan-out of one shared frame, users, watchlists, pruning."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from tidings.apps import App
from tidings.hub.local import LocalSockets
from tidings.protocol.framing import text_frame
from tidings.protocol.presence import Member

APP = App(id="1", key="k", secret="s")


@dataclass
class Socket:
    socket_id: str
    app: App = APP
    frames: list[bytes] = field(default_factory=list)
    terminated: list[tuple[int, str]] = field(default_factory=list)

    def send(self, frame: bytes) -> None:
        self.frames.append(frame)

    def terminate(self, code: int, message: str) -> None:
        self.terminated.append((code, message))


def decoded(frame: bytes) -> dict[str, Any]:
    """The JSON message inside a server text frame (no mask; 2- or 4-byte header)."""
    assert frame[0] == 0x81
    message: dict[str, Any] = orjson.loads(frame[2:] if frame[1] < 126 else frame[4:])
    return message


# -- channels -------------------------------------------------------------------------------


def test_join_returns_the_channels_local_subscriber_count() -> None:
    local = LocalSockets()
    assert local.join("1", "news", Socket("1.1")) == 1
    assert local.join("1", "news", Socket("1.2")) == 2
    assert local.join("1", "other", Socket("1.3")) == 1
    assert sorted(local.channel_names("1")) == ["news", "other"]


def test_joining_twice_with_the_same_socket_counts_it_once() -> None:
    local = LocalSockets()
    sock = Socket("1.1")
    local.join("1", "news", sock)
    assert local.join("1", "news", sock) == 1
    assert list(local.subscribers("1", "news")) == ["1.1"]


def test_leave_returns_the_subscribers_left_and_forgets_an_emptied_channel() -> None:
    local = LocalSockets()
    local.join("1", "news", Socket("1.1"))
    local.join("1", "news", Socket("1.2"))
    assert local.leave("1", "news", "1.1") == 1
    assert local.channel_names("1") == ["news"]
    assert local.leave("1", "news", "1.2") == 0
    assert local.channel_names("1") == []
    assert local.subscribers("1", "news") == {}


def test_leave_returns_none_when_the_socket_was_not_subscribed() -> None:
    local = LocalSockets()
    local.join("1", "news", Socket("1.1"))
    assert local.leave("1", "news", "1.9") is None  # unknown socket
    assert local.leave("1", "sports", "1.1") is None  # unknown channel
    assert local.leave("2", "news", "1.1") is None  # unknown app
    assert list(local.subscribers("1", "news")) == ["1.1"]


def test_apps_with_the_same_channel_name_are_kept_apart() -> None:
    local = LocalSockets()
    mine, theirs = Socket("1.1"), Socket("1.2")
    local.join("1", "news", mine)
    local.join("2", "news", theirs)
    local.broadcast("1", "news", text_frame(b"{}"))
    assert len(mine.frames) == 1
    assert theirs.frames == []
    assert list(local.subscribers("2", "news")) == ["1.2"]


def test_broadcast_writes_the_same_bytes_object_to_every_subscriber() -> None:
    local = LocalSockets()
    sockets = [Socket(f"1.{n}") for n in range(3)]
    for sock in sockets:
        local.join("1", "news", sock)
    frame = text_frame(b'{"event":"e"}')
    local.broadcast("1", "news", frame)
    for sock in sockets:
        assert len(sock.frames) == 1
        assert sock.frames[0] is frame


def test_broadcast_skips_only_the_excepted_socket() -> None:
    local = LocalSockets()
    a, b, c = Socket("1.1"), Socket("1.2"), Socket("1.3")
    for sock in (a, b, c):
        local.join("1", "news", sock)
    frame = text_frame(b'{"event":"e"}')
    local.broadcast("1", "news", frame, except_socket_id="1.2")
    assert b.frames == []
    assert a.frames[0] is frame and c.frames[0] is frame
    assert len(a.frames) == len(c.frames) == 1


def test_deliver_frames_the_payload_once_for_all_subscribers_but_the_excepted() -> None:
    local = LocalSockets()
    a, b, c = Socket("1.1"), Socket("1.2"), Socket("1.3")
    for sock in (a, b, c):
        local.join("1", "news", sock)
    local.deliver("1", "news", b'{"event":"e"}', except_socket_id="1.3")
    assert a.frames == [text_frame(b'{"event":"e"}')]
    assert b.frames[0] is a.frames[0]
    assert c.frames == []


def test_broadcast_reaches_only_the_named_channels_subscribers() -> None:
    local = LocalSockets()
    news, sports = Socket("1.1"), Socket("1.2")
    local.join("1", "news", news)
    local.join("1", "sports", sports)
    local.broadcast("1", "news", text_frame(b"{}"))
    local.broadcast("1", "nobody-here", text_frame(b"{}"))
    assert len(news.frames) == 1
    assert sports.frames == []


# -- presence -------------------------------------------------------------------------------


def test_add_member_is_first_only_for_a_users_first_socket_in_the_channel() -> None:
    local = LocalSockets()
    assert local.add_member("1", "presence-r", Member("ada", {"n": 1})) is True
    assert local.add_member("1", "presence-r", Member("ada", {"n": 1})) is False
    assert local.add_member("1", "presence-r", Member("bob", None)) is True
    assert local.add_member("1", "presence-s", Member("ada", {"n": 1})) is True
    assert local.member_infos("1", "presence-r") == {"ada": {"n": 1}, "bob": None}
    assert local.members("1", "presence-r")["ada"].sockets == 2


def test_remove_member_is_last_only_for_a_users_last_socket_in_the_channel() -> None:
    local = LocalSockets()
    ada = Member("ada", None)
    local.add_member("1", "presence-r", ada)
    local.add_member("1", "presence-r", ada)
    assert local.remove_member("1", "presence-r", "ada") is False
    assert local.member_infos("1", "presence-r") == {"ada": None}
    assert local.remove_member("1", "presence-r", "ada") is True
    assert local.members("1", "presence-r") == {}


def test_remove_member_of_an_unknown_user_channel_or_app_is_not_a_last() -> None:
    local = LocalSockets()
    local.add_member("1", "presence-r", Member("ada", None))
    assert local.remove_member("1", "presence-r", "bob") is False
    assert local.remove_member("1", "presence-s", "ada") is False
    assert local.remove_member("2", "presence-r", "ada") is False
    assert local.member_infos("1", "presence-r") == {"ada": None}


# -- users ----------------------------------------------------------------------------------


def test_sign_in_is_first_only_for_a_users_first_socket() -> None:
    local = LocalSockets()
    assert local.sign_in("1", "ada", Socket("1.1")) is True
    assert local.sign_in("1", "ada", Socket("1.2")) is False
    assert local.sign_in("1", "bob", Socket("1.3")) is True
    assert local.signed_in_users("1") == {"ada": 2, "bob": 1}


def test_sign_out_is_last_only_for_a_users_last_socket() -> None:
    local = LocalSockets()
    local.sign_in("1", "ada", Socket("1.1"))
    local.sign_in("1", "ada", Socket("1.2"))
    assert local.sign_out("1", "ada", "1.1") is False
    assert local.signed_in_users("1") == {"ada": 1}
    assert local.sign_out("1", "ada", "1.2") is True
    assert local.signed_in_users("1") == {}
    assert local.user_sockets("1", "ada") == {}


def test_sign_out_of_a_socket_that_never_signed_in_is_not_a_last() -> None:
    local = LocalSockets()
    local.sign_in("1", "ada", Socket("1.1"))
    assert local.sign_out("1", "ada", "1.9") is False
    assert local.sign_out("1", "bob", "1.1") is False
    assert local.sign_out("2", "ada", "1.1") is False
    assert local.signed_in_users("1") == {"ada": 1}


def test_send_to_user_frames_the_payload_once_for_each_of_that_users_sockets_only() -> None:
    local = LocalSockets()
    phone, laptop, other = Socket("1.1"), Socket("1.2"), Socket("1.3")
    local.sign_in("1", "ada", phone)
    local.sign_in("1", "ada", laptop)
    local.sign_in("1", "bob", other)
    local.send_to_user("1", "ada", b'{"event":"hi"}')
    assert phone.frames == [text_frame(b'{"event":"hi"}')]
    assert laptop.frames[0] is phone.frames[0]
    assert other.frames == []


def test_terminate_user_closes_each_of_that_users_sockets_with_4009() -> None:
    local = LocalSockets()
    phone, laptop, other = Socket("1.1"), Socket("1.2"), Socket("1.3")
    local.sign_in("1", "ada", phone)
    local.sign_in("1", "ada", laptop)
    local.sign_in("1", "bob", other)
    local.terminate_user("1", "ada")
    assert phone.terminated == laptop.terminated == [(4009, "You got disconnected by the app.")]
    assert other.terminated == []


def test_terminate_user_survives_sockets_signing_out_as_they_are_closed() -> None:
    local = LocalSockets()

    @dataclass
    class SigningOut(Socket):
        def terminate(self, code: int, message: str) -> None:
            super().terminate(code, message)
            local.sign_out("1", "ada", self.socket_id)

    phone, laptop = SigningOut("1.1"), SigningOut("1.2")
    local.sign_in("1", "ada", phone)
    local.sign_in("1", "ada", laptop)
    local.terminate_user("1", "ada")
    assert len(phone.terminated) == len(laptop.terminated) == 1
    assert local.signed_in_users("1") == {}


# -- watchlists -----------------------------------------------------------------------------


def test_watch_is_first_only_for_a_users_first_watcher() -> None:
    local = LocalSockets()
    assert local.watch("1", "ada", Socket("1.1")) is True
    assert local.watch("1", "ada", Socket("1.2")) is False
    assert local.watch("1", "bob", Socket("1.1")) is True
    assert sorted(local.watched_users("1")) == ["ada", "bob"]


def test_unwatch_returns_the_users_nobody_here_watches_any_more() -> None:
    local = LocalSockets()
    first, second = Socket("1.1"), Socket("1.2")
    local.watch("1", "ada", first)
    local.watch("1", "bob", first)
    local.watch("1", "bob", second)
    assert local.unwatch("1", "1.1") == ["ada"]  # bob still has a watcher
    assert local.watched_users("1") == ["bob"]
    assert local.unwatch("1", "1.2") == ["bob"]
    assert local.watched_users("1") == []


def test_unwatch_of_an_unknown_socket_or_app_changes_nothing() -> None:
    local = LocalSockets()
    local.watch("1", "ada", Socket("1.1"))
    assert local.unwatch("1", "1.9") == []
    assert local.unwatch("2", "1.1") == []
    assert local.watched_users("1") == ["ada"]


def test_notify_watchers_sends_one_watchlist_event_frame_to_that_users_watchers() -> None:
    local = LocalSockets()
    w1, w2, bystander = Socket("1.1"), Socket("1.2"), Socket("1.3")
    local.watch("1", "ada", w1)
    local.watch("1", "ada", w2)
    local.watch("1", "bob", bystander)
    local.notify_watchers("1", "ada", "online")
    assert bystander.frames == []
    assert len(w1.frames) == len(w2.frames) == 1
    assert w1.frames[0] is w2.frames[0]  # framed once for all watchers
    message = decoded(w1.frames[0])
    assert message["event"] == "pusher_internal:watchlist_events"
    assert orjson.loads(message["data"]) == {"events": [{"name": "online", "user_ids": ["ada"]}]}


def test_notify_watchers_of_an_unwatched_user_sends_nothing() -> None:
    local = LocalSockets()
    watcher = Socket("1.1")
    local.watch("1", "ada", watcher)
    local.notify_watchers("1", "bob", "offline")
    local.notify_watchers("2", "ada", "offline")
    assert watcher.frames == []


# -- app pruning ----------------------------------------------------------------------------


def test_an_app_is_listed_while_it_has_any_channel_member_user_or_watcher() -> None:
    local = LocalSockets()
    sock = Socket("1.1")
    local.join("1", "presence-r", sock)
    local.add_member("1", "presence-r", Member("ada", None))
    local.sign_in("1", "ada", sock)
    local.watch("1", "bob", sock)
    assert local.app_ids() == ["1"]
    local.leave("1", "presence-r", "1.1")
    assert local.app_ids() == ["1"]  # still a member, signed in and watching
    local.remove_member("1", "presence-r", "ada")
    assert local.app_ids() == ["1"]  # still signed in and watching
    local.sign_out("1", "ada", "1.1")
    assert local.app_ids() == ["1"]  # still watching
    local.unwatch("1", "1.1")
    assert local.app_ids() == []


def test_each_kind_of_last_departure_prunes_an_otherwise_empty_app() -> None:
    local = LocalSockets()
    local.join("a", "news", Socket("1.1"))
    local.sign_in("b", "ada", Socket("1.2"))
    local.watch("c", "bob", Socket("1.3"))
    local.add_member("d", "presence-r", Member("eve", None))
    assert sorted(local.app_ids()) == ["a", "b", "c", "d"]
    local.leave("a", "news", "1.1")
    local.sign_out("b", "ada", "1.2")
    local.unwatch("c", "1.3")
    local.remove_member("d", "presence-r", "eve")
    assert local.app_ids() == []


def test_queries_about_an_unknown_app_answer_empty_without_creating_it() -> None:
    local = LocalSockets()
    assert local.subscribers("9", "news") == {}
    assert local.channel_names("9") == []
    assert local.user_sockets("9", "ada") == {}
    assert local.signed_in_users("9") == {}
    assert local.watched_users("9") == []
    assert local.members("9", "presence-r") == {}
    local.broadcast("9", "news", text_frame(b"{}"))
    local.deliver("9", "news", b"{}")
    local.send_to_user("9", "ada", b"{}")
    local.terminate_user("9", "ada")
    assert local.app_ids() == []


# -- figures for metrics --------------------------------------------------------------------
def test_traffic_counts_each_broadcast_once_with_its_sockets_and_bytes() -> None:
    local = LocalSockets()
    for socket_id in ("1.1", "1.2", "1.3"):
        local.join("1", "news", Socket(socket_id))
    frame = text_frame(b'{"event":"e"}')
    local.broadcast("1", "news", frame)
    local.broadcast("1", "news", frame, except_socket_id="1.2")
    local.broadcast("1", "news", frame, except_socket_id="9.9")  # not subscribed: nobody spared
    assert local.traffic["1"].messages == 3 + 2 + 3
    assert local.traffic["1"].size == 8 * len(frame)


def test_the_census_counts_channels_subscriptions_and_members_by_kind() -> None:
    local = LocalSockets()
    for channel, socket_ids in (
        ("news", ["1.1", "1.2"]),
        ("private-chat", ["1.1"]),
        ("private-encrypted-vault", ["1.2"]),
        ("presence-room", ["1.1", "1.2"]),
        ("private-cache-scores", ["1.1"]),
    ):
        for socket_id in socket_ids:
            local.join("1", channel, Socket(socket_id))
    local.add_member("1", "presence-room", Member("alice", {}))
    local.add_member("1", "presence-room", Member("bob", {}))
    local.add_member("1", "presence-room", Member("bob", {}))  # a second socket: one member
    census = local.census()["1"]
    assert census.channels == {"public": 1, "private": 1, "encrypted": 1, "presence": 1, "cache": 1}
    assert census.subscriptions == {
        "public": 2, "private": 1, "encrypted": 1, "presence": 2, "cache": 1,
    }  # fmt: skip
    assert census.presence_members == 2


def test_the_census_forgets_an_app_whose_last_socket_left_but_traffic_stays() -> None:
    local = LocalSockets()
    local.join("1", "news", Socket("1.1"))
    local.deliver("1", "news", b'{"event":"e"}')
    local.leave("1", "news", "1.1")
    assert local.census() == {}
    assert local.traffic["1"].messages == 1
