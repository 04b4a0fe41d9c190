"""``--workers N`` over TLS: every worker serves wss:// and https:// on the one port, and a
SIGHUP to the supervisor renews the certificate in all of them without dropping a socket."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from tests.integration.test_config_errors import serve
from tests.support.pusher_js import PusherJsDriver, wait_until
from tests.support.redis_server import RedisServer
from tests.support.server import TidingsServer, free_port
from tests.support.tls import PrivateCA, served_certificate


def test_workers_serve_tls_and_all_reload_on_sighup(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    ca = PrivateCA.create(tmp_path)
    settings = {**ca.settings(), "redis_url": redis_server.url, "workers": 2}
    with TidingsServer(server=settings, ca_file=ca.ca_file) as server, PusherJsDriver(server) as js:
        # /ready answered once one worker listened: connect until both hold sockets (a socket
        # id names its process), so that both are up before the SIGHUP.
        clients = []
        workers: set[str] = set()
        deadline = time.monotonic() + 15
        while len(workers) < 2 or len(clients) < 4:
            assert time.monotonic() < deadline, f"only workers {workers} took sockets"
            clients.append(js.client(f"reader-{len(clients)}", options={"forceTLS": True}))
            workers.add(str(clients[-1].socket_id).split(".")[0])
        for client in clients:
            client.subscribe("tls-workers")

        renewed = ca.issue()
        server.signal(signal.SIGHUP)  # the supervisor passes it on to each worker
        wait_until(
            lambda: server.log().count("TLS certificate reloaded") == 2, "both workers reload"
        )
        for _ in range(8):  # the kernel spreads these handshakes over both workers
            assert served_certificate(server.host, server.port, ca.ca_file) == renewed

        js.rest.trigger("tls-workers", "after-renewal", {"ok": True})
        for client in clients:  # opened before the reload, on either worker: still served
            assert client.wait_for("tls-workers", "after-renewal").data == {"ok": True}
        assert all(client.state == "connected" for client in clients)


def test_a_bad_certificate_stops_the_supervisor_with_status_2(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    ca = PrivateCA.create(tmp_path)
    result = serve(
        "--workers",
        "2",
        "--redis-url",
        redis_server.url,
        "--port",
        str(free_port()),
        "--tls-cert",
        ca.cert_file,
        "--tls-key",
        ca.cert_file,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("configuration error") == 1  # said once, by the supervisor
    assert "PRIVATE KEY" in result.stderr
