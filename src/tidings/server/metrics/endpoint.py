"""``GET /metrics``: Prometheus' text exposition format, rendered by prometheus-client."""

from __future__ import annotations

from prometheus_client.core import Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from tidings.net.http import Request, Response
from tidings.server.context import Context
from tidings.server.metrics.collect import collect
from tidings.server.metrics.share import WorkerShare, merge


class _Families:
    """What ``generate_latest`` asks of a registry: something to collect from."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> list[Metric]:
        return self._families


class MetricsEndpoint:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.share = WorkerShare.from_environment(self.families)

    def families(self) -> list[Metric]:
        return list(collect(self.ctx))

    async def __call__(self, request: Request, match: dict[str, str]) -> Response:
        families = self.families()
        if self.share is not None:
            families = merge(families, self.share.others())
        return Response(200, generate_latest(_Families(families)), CONTENT_TYPE_LATEST)
