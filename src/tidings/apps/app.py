"""One application's credentials and per-app settings (names follow soketi's where one exists)."""

from __future__ import annotations

from dataclasses import dataclass, field

from tidings.apps.history import HistoryRule, rule_for


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    url: str
    event_types: tuple[str, ...] = ()
    channel_prefix: str = ""
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class App:
    id: str
    key: str
    secret: str
    enabled: bool = True
    enable_client_events: bool = False
    enable_user_authentication: bool = False
    user_authentication_timeout: float = 30.0
    enable_subscription_count: bool = False
    # -1 means unlimited, as in soketi.
    max_connections: int = -1
    max_backend_events_per_sec: int = -1
    max_client_events_per_sec: int = 10
    max_read_req_per_sec: int = -1
    max_presence_members_per_channel: int = 100
    max_presence_member_size_in_kb: float = 1.0
    max_channel_name_length: int = 200
    max_event_channels_at_once: int = 100
    max_event_name_length: int = 200
    max_event_payload_in_kb: float = 10.0
    max_event_batch_size: int = 10
    cache_ttl: float = 1800.0
    webhooks: tuple[WebhookTarget, ...] = field(default_factory=tuple)
    # Channels whose events are kept for replay (docs/history.md); empty: none, at no cost.
    history: tuple[HistoryRule, ...] = field(default_factory=tuple)
    # Derived once: they are read on every event.
    max_event_payload_bytes: int = field(init=False, repr=False, compare=False)
    max_presence_member_bytes: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "max_event_payload_bytes", int(self.max_event_payload_in_kb * 1024)
        )
        object.__setattr__(
            self, "max_presence_member_bytes", int(self.max_presence_member_size_in_kb * 1024)
        )

    def history_rule(self, channel: str) -> HistoryRule | None:
        """The history ``channel`` keeps, if any; callers check ``self.history`` first, so
        an app without history pays one branch."""
        return rule_for(self.history, channel)
