"""``/metrics``: the server's figures in Prometheus' text format (README: Metrics)."""

from tidings.server.metrics.endpoint import MetricsEndpoint

__all__ = ["MetricsEndpoint"]
