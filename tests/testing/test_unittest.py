"""The unittest recipe of docs/testing.md, as written there: no pytest fixture involved."""

from __future__ import annotations

import unittest

import pusher

from tidings.testing import EventRecorder, TidingsServer


class NotifyTest(unittest.TestCase):
    server: TidingsServer

    @classmethod
    def setUpClass(cls) -> None:
        cls.server = TidingsServer(enable_client_events=True).start()
        cls.addClassCleanup(cls.server.stop)

    def setUp(self) -> None:
        self.server.reset()
        self.events = EventRecorder()
        self.events.attach(self.server.observe)
        self.addCleanup(self.events.detach)

    def client(self) -> pusher.Pusher:
        server = self.server
        return pusher.Pusher(
            app_id=server.app_id,
            key=server.key,
            secret=server.secret,
            host=server.host,
            port=server.port,
            ssl=False,
        )

    def test_trigger(self) -> None:
        self.client().trigger("user-1", "new-message", {"message": "hi"})
        self.assertEqual(self.events.wait_for("user-1", "new-message").data, {"message": "hi"})

    def test_settings_given_at_construction_survive_resets(self) -> None:
        self.assertTrue(self.server.app.enable_client_events)
        self.assertEqual(self.events.events, [])
