"""The ``tidings-tls`` bench target works end to end at toy size (this is no benchmark): its
subscribers connect over wss://, its API client triggers over https://, the events arrive."""

from __future__ import annotations

import asyncio

from bench.loadgen import ApiClient, Tally, Target, close_all, open_subscribers
from bench.pusher_wire import events_path
from bench.scenarios import MARKER, _body
from bench.servers import HOST, TidingsTls


async def test_subscribers_and_triggers_go_over_tls() -> None:
    process = TidingsTls()
    await asyncio.to_thread(process.start)
    try:
        assert process.tls is not None
        target = Target(HOST, process.port, tls=process.tls)
        tally = Tally()
        subs = await open_subscribers(target, tally, MARKER, lambda i: "tls-bench", 3)
        client = ApiClient(target)
        try:
            response = await client.post(events_path(target.creds), _body(["tls-bench"], 1, 16))
            assert response.status == 200, response.body
            assert await tally.reach(3, timeout=10)
        finally:
            client.close()
            close_all(subs)
    finally:
        await asyncio.to_thread(process.stop)
