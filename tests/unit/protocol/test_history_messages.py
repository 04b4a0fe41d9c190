"""The history frames: a delivered event with its serial and epoch, and the end of a replay."""

from __future__ import annotations

import orjson

from tidings.protocol import messages


def test_stamping_adds_top_level_serial_and_epoch_and_keeps_the_rest_byte_for_byte() -> None:
    event = messages.event("agent-message", "agent-1", '{"n":1}', "ada")
    stamped = messages.stamped(event, 42, "e-1")
    assert stamped.startswith(event[:-1])
    assert orjson.loads(stamped) == {**orjson.loads(event), "serial": 42, "epoch": "e-1"}


def test_replay_done_carries_epoch_last_and_completeness_as_a_json_string() -> None:
    frame = orjson.loads(messages.replay_done("agent-1", "e-1", 7, False))
    assert (frame["event"], frame["channel"]) == ("tidings:replay_done", "agent-1")
    assert orjson.loads(frame["data"]) == {"epoch": "e-1", "last": 7, "complete": False}
