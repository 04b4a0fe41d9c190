"""``allowed_origins`` on the wire, as a raw client sees it: a foreign Origin gets the
``pusher:error`` 4009 frame and the 4009 close, like any refused handshake; a listed one and a
client sending no Origin (not a browser) are let in. Browsers: tests/browser."""

from __future__ import annotations

from collections.abc import Callable

from tests.support.raw_client import RawClient, assert_round_trip
from tests.support.server import TidingsServer

ALLOWED = ["https://app.example.com", "https://*.example.com"]


async def test_a_foreign_origin_is_refused_with_4009_frame_and_close(
    make_server: Callable[..., TidingsServer],
) -> None:
    server = make_server(allowed_origins=ALLOWED)
    origin = {"Origin": "https://example.com.attacker.test"}
    async with await RawClient.connect(server, headers=origin, handshake=False) as client:
        error = await client.recv()
        assert error["event"] == "pusher:error"
        assert error["data"] == {
            "code": 4009,
            "message": "Origin https://example.com.attacker.test is not allowed for this app",
        }
        assert await client.close_code() == 4009
    for allowed in ("https://app.example.com", "https://eu.example.com"):
        async with await RawClient.connect(server, headers={"Origin": allowed}) as client:
            await client.subscribe("lobby")
    await assert_round_trip(server)  # no Origin header at all
