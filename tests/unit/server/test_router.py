"""``Router``: method plus path to a route, ``{name}`` segments captured and percent-decoded."""

from __future__ import annotations

import pytest

from tidings.net.http import Request, Response
from tidings.server.router import Route, Router


def route_named(name: str) -> Route:
    async def route(request: Request, match: dict[str, str]) -> Response:
        return Response(200, name.encode())

    route.__name__ = name
    return route


INDEX = route_named("index")
READY = route_named("ready")
EVENTS = route_named("events")
BATCH = route_named("batch")
CHANNELS = route_named("channels")
CHANNEL = route_named("channel")
USERS = route_named("users")
TERMINATE = route_named("terminate")
TERMINATE_ANY = route_named("terminate_any")


@pytest.fixture
def router() -> Router:
    """The same templates the application registers (src/tidings/server/app.py)."""
    routes = Router()
    routes.add("GET", "/", INDEX)
    routes.add("GET", "/ready", READY)
    routes.add("POST", "/apps/{app_id}/events", EVENTS)
    routes.add("POST", "/apps/{app_id}/batch_events", BATCH)
    routes.add("GET", "/apps/{app_id}/channels", CHANNELS)
    routes.add("GET", "/apps/{app_id}/channels/{channel_name}", CHANNEL)
    routes.add("GET", "/apps/{app_id}/channels/{channel_name}/users", USERS)
    routes.add("POST", "/apps/{app_id}/users/{user_id}/terminate_connections", TERMINATE)
    routes.add("POST", "/users/{user_id}/terminate_connections", TERMINATE_ANY)
    return routes


@pytest.mark.parametrize(
    ("method", "path", "route", "params"),
    [
        ("GET", "/", INDEX, {}),
        ("GET", "/ready", READY, {}),
        ("POST", "/apps/4242/events", EVENTS, {"app_id": "4242"}),
        ("POST", "/apps/4242/batch_events", BATCH, {"app_id": "4242"}),
        ("GET", "/apps/4242/channels", CHANNELS, {"app_id": "4242"}),
        ("GET", "/apps/1/channels/news", CHANNEL, {"app_id": "1", "channel_name": "news"}),
        (
            "GET",
            "/apps/1/channels/presence-room/users",
            USERS,
            {"app_id": "1", "channel_name": "presence-room"},
        ),
        (
            "POST",
            "/apps/1/users/u-7/terminate_connections",
            TERMINATE,
            {"app_id": "1", "user_id": "u-7"},
        ),
        ("POST", "/users/u-7/terminate_connections", TERMINATE_ANY, {"user_id": "u-7"}),
    ],
)
def test_templates_match_with_their_params(
    router: Router, method: str, path: str, route: Route, params: dict[str, str]
) -> None:
    assert router.match(method, path) == (route, params)


@pytest.mark.parametrize(
    ("segment", "decoded"),
    [
        ("private%2Dnews", "private-news"),
        ("a%20b", "a b"),
        ("a%2Fb", "a/b"),  # an escaped slash is data inside one segment, not a separator
        ("%C3%A9t%C3%A9", "été"),
        ("a+b", "a+b"),  # a path is not form encoded: '+' stays a plus
        ("100%25", "100%"),
        ("private-encrypted-x;y@z", "private-encrypted-x;y@z"),
    ],
)
def test_params_are_percent_decoded(router: Router, segment: str, decoded: str) -> None:
    assert router.match("GET", f"/apps/1/channels/{segment}") == (
        CHANNEL,
        {"app_id": "1", "channel_name": decoded},
    )


def test_every_param_is_decoded(router: Router) -> None:
    found = router.match("GET", "/apps/%34%32/channels/a%3Ab/users")
    assert found == (USERS, {"app_id": "42", "channel_name": "a:b"})


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/apps/1/events"),
        ("PUT", "/apps/1/events"),
        ("POST", "/apps/1/channels"),
        ("DELETE", "/apps/1/channels/news"),
        ("POST", "/ready"),
        ("HEAD", "/"),
        ("get", "/ready"),  # methods are case-sensitive (RFC 9110 section 9.1)
    ],
)
def test_wrong_method_does_not_match(router: Router, method: str, path: str) -> None:
    assert router.match(method, path) is None


@pytest.mark.parametrize(
    "path",
    [
        "/apps",
        "/apps/1",
        "/apps/1/events/extra",
        "/apps/1/channels/news/users/more",
        "/ready/now",
        "/apps/1/channels/a/b",  # an unescaped slash makes another segment
    ],
)
def test_segment_count_mismatch_does_not_match(router: Router, path: str) -> None:
    method = "POST" if "events" in path else "GET"
    assert router.match(method, path) is None


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/apps//events"),
        ("GET", "/apps/1/channels//users"),
        ("GET", "/apps//channels/news"),
        ("POST", "/users//terminate_connections"),
    ],
)
def test_empty_param_segment_is_refused(router: Router, method: str, path: str) -> None:
    assert router.match(method, path) is None


@pytest.mark.parametrize(
    "path", ["/apps/1/event", "/apps/1/Events", "/app/1/events", "/apps/1/events%2F"]
)
def test_literal_segments_must_match_exactly(router: Router, path: str) -> None:
    assert router.match("POST", path) is None


def test_unknown_paths_do_not_match(router: Router) -> None:
    assert router.match("GET", "/nope") is None
    assert router.match("GET", "/app/test-key") is None


def test_same_template_routes_by_method() -> None:
    routes = Router()
    routes.add("GET", "/things/{id}", CHANNEL)
    routes.add("POST", "/things/{id}", EVENTS)
    assert routes.match("GET", "/things/7") == (CHANNEL, {"id": "7"})
    assert routes.match("POST", "/things/7") == (EVENTS, {"id": "7"})
    assert routes.match("PUT", "/things/7") is None


def test_a_literal_and_a_param_template_of_the_same_length() -> None:
    routes = Router()
    routes.add("GET", "/things/special", INDEX)
    routes.add("GET", "/things/{id}", CHANNEL)
    assert routes.match("GET", "/things/special") == (INDEX, {})
    assert routes.match("GET", "/things/other") == (CHANNEL, {"id": "other"})


def test_empty_router_matches_nothing() -> None:
    assert Router().match("GET", "/") is None


def test_repeated_matches_give_the_same_answer(router: Router) -> None:
    """Whatever the router remembers between calls, a second ask answers like the first."""
    for _ in range(3):
        assert router.match("GET", "/apps/1/channels/news") == (
            CHANNEL,
            {"app_id": "1", "channel_name": "news"},
        )
        assert router.match("GET", "/apps/1/events") is None
        assert router.match("POST", "/apps/1/events") == (EVENTS, {"app_id": "1"})


def test_thousands_of_distinct_paths_each_match_their_own_params(router: Router) -> None:
    for i in range(5000):
        found = router.match("GET", f"/apps/{i % 7}/channels/room-{i}")
        assert found == (CHANNEL, {"app_id": str(i % 7), "channel_name": f"room-{i}"}), i
    assert router.match("GET", "/apps/0/channels/room-0") == (
        CHANNEL,
        {"app_id": "0", "channel_name": "room-0"},
    )
