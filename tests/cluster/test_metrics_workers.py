"""``--workers 2``: whichever worker a scrape lands on, it reports the whole host."""

from __future__ import annotations

from tests.cluster.conftest import connect_to_both_workers
from tests.support.metrics import scrape_until
from tests.support.raw_client import RawClient
from tests.support.redis_server import RedisServer
from tests.support.server import TidingsServer

APP = {"app_id": "4242"}


async def test_any_workers_scrape_adds_up_every_worker(redis_server: RedisServer) -> None:
    server = TidingsServer(server={"redis_url": redis_server.url, "workers": 2}).start()
    clients: list[RawClient] = []
    try:
        await connect_to_both_workers(server, clients)
        for client in clients:
            await client.subscribe("shared")
        # Several scrapes: the kernel hands each new HTTP connection to either worker.
        for _ in range(6):
            metrics = await scrape_until(
                server.url,
                lambda m: (
                    m.value("tidings_connections", **APP) == len(clients)
                    and m.value("tidings_subscriptions", kind="public", **APP) == len(clients)
                    and m.value("tidings_cluster_nodes") == 2
                ),  # as of each worker's last heartbeat
            )
            assert metrics.value("tidings_connections_opened_total", **APP) == len(clients)
            assert metrics.value("tidings_redis_errors_total") == 0
        for client in clients[:5]:
            await client.close()
        await scrape_until(
            server.url, lambda m: m.value("tidings_connections", **APP) == len(clients) - 5
        )
    finally:
        for client in clients:
            await client.close()
        server.stop()
