"""Logging in, and the endpoints pusher-js calls: ``/pusher/auth`` and ``/pusher/user-auth``."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import requests

from tests.support.demo import DemoProcess
from tests.support.pusher_js import PusherJsDriver
from tests.support.raw_client import RawClient

Api = Callable[..., requests.Response]


def log_in(api: Api, name: str) -> None:
    response = api("POST", "/login", data={"name": name, "next": "/presence"})
    assert response.status_code == 200
    assert response.url.endswith("/presence")


def authorize(api: Api, socket_id: str | None, channel: str) -> requests.Response:
    # Form-encoded, as pusher-js sends it.
    return api("POST", "/pusher/auth", data={"socket_id": socket_id, "channel_name": channel})


def test_a_logged_in_user_gets_a_private_channel_signature_that_tidings_accepts(
    api: Api, listener: PusherJsDriver
) -> None:
    log_in(api, "Alice")
    browser = listener.client("alice")

    response = authorize(api, browser.socket_id, "private-notes")

    assert response.status_code == 200
    assert set(response.json()) == {"auth"}
    browser.subscribe("private-notes", auth=response.json())


def test_on_presence_channels_the_server_decides_who_the_member_is(
    api: Api, listener: PusherJsDriver
) -> None:
    log_in(api, "Alice Smith")
    browser = listener.client("alice")

    response = api(
        "POST",
        "/pusher/auth",
        data={
            "socket_id": browser.socket_id,
            "channel_name": "presence-lobby",
            "user_info": '{"name": "Someone Else"}',  # ignored: the login decides
        },
    )

    members = browser.subscribe("presence-lobby", auth=response.json())
    me = members["me"]
    assert me["id"].startswith("alice-smith-")
    assert me["info"] == {"name": "Alice Smith"}
    assert members["members"] == {me["id"]: {"name": "Alice Smith"}}


async def test_a_logged_in_user_can_sign_in_to_tidings(demo: DemoProcess, api: Api) -> None:
    log_in(api, "Bob")
    async with await RawClient.connect(demo.tidings) as socket:  # type: ignore[arg-type]
        response = api("POST", "/pusher/user-auth", data={"socket_id": socket.socket_id})
        assert response.status_code == 200
        signed = response.json()
        await socket.send("pusher:signin", signed)
        success = await socket.expect("pusher:signin_success")

    data = success["data"]
    user = json.loads((json.loads(data) if isinstance(data, str) else data)["user_data"])
    assert user["id"].startswith("bob-")
    assert user["user_info"] == {"name": "Bob"}


@pytest.mark.parametrize("channel", ["private-notes", "presence-lobby"])
def test_anonymous_visitors_are_refused_channel_authorization(api: Api, channel: str) -> None:
    response = authorize(api, "123.456", channel)

    assert response.status_code == 403
    assert response.json() == {"error": "Log in to join private and presence channels"}


def test_anonymous_visitors_are_refused_user_authentication(api: Api) -> None:
    response = api("POST", "/pusher/user-auth", data={"socket_id": "123.456"})

    assert response.status_code == 403
    assert response.json() == {"error": "Log in to sign in to tidings"}


def test_a_forged_login_cookie_counts_as_anonymous(demo: DemoProcess) -> None:
    forged = "eyJpZCI6ImFkbWluIiwibmFtZSI6ImFkbWluIn0.0000"
    response = requests.post(
        demo.url + "/pusher/auth",
        data={"socket_id": "123.456", "channel_name": "private-notes"},
        cookies={"tidings_demo_user": forged},
        timeout=10,
    )

    assert response.status_code == 403


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"channel_name": "private-notes"}, "Missing required fields: socket_id, channel_name"),
        ({"socket_id": "123.456"}, "Missing required fields: socket_id, channel_name"),
        ({"socket_id": "123.456", "channel_name": "my-channel"}, "is a public channel"),
        ({"socket_id": "not-a-socket", "channel_name": "private-notes"}, "Invalid socket ID"),
        ({"socket_id": "123.456", "channel_name": "private-bad name"}, "may only contain"),
    ],
    ids=["no-socket", "no-channel", "public-channel", "bad-socket-id", "bad-channel"],
)
def test_malformed_authorization_requests_are_a_400(
    api: Api, form: dict[str, str], error: str
) -> None:
    log_in(api, "Alice")

    response = api("POST", "/pusher/auth", data=form)

    assert response.status_code == 400
    assert error in response.json()["error"]


def test_user_authentication_needs_a_valid_socket_id(api: Api) -> None:
    log_in(api, "Alice")

    assert api("POST", "/pusher/user-auth", data={}).status_code == 400
    assert api("POST", "/pusher/user-auth", data={"socket_id": "1.2.3"}).status_code == 400


def test_an_empty_name_sends_you_back_to_the_form(api: Api) -> None:
    response = api("POST", "/login", data={"name": "   "})

    assert response.url.endswith("/login?error=name&next=/presence")
    assert "Please enter a name" in response.text
    assert authorize(api, "123.456", "private-notes").status_code == 403


def test_logging_out_ends_authorization(api: Api) -> None:
    log_in(api, "Alice")
    assert authorize(api, "123.456", "private-notes").status_code == 200

    api("POST", "/logout")

    assert authorize(api, "123.456", "private-notes").status_code == 403
