"""End-to-end encrypted channels: the server relays ciphertext it cannot read.

pusher-js gets the channel's shared secret from the Node SDK's ``authorizeChannel``; the SDKs
encrypt with a key derived from the master key; only pusher-js decrypts.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable

import pytest

from tests.support.pusher_js import PusherJsDriver
from tests.support.server import TidingsServer

CHANNEL = "private-encrypted-payroll"


@pytest.fixture
def master_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def test_pusher_js_decrypts_what_the_node_sdk_encrypted(
    shared_server: TidingsServer, pusher_js: Callable[..., PusherJsDriver], master_key: str
) -> None:
    driver = pusher_js(shared_server, encryption_master_key_base64=master_key)
    accountant = driver.client("accountant")
    accountant.subscribe(CHANNEL)

    response = driver.node_sdk("trigger", CHANNEL, "salary-paid", {"employee": 7, "net": 1234})

    assert response.status == 200
    event = accountant.wait_for(CHANNEL, "salary-paid")
    assert event.data == {"employee": 7, "net": 1234}


def test_pusher_js_decrypts_what_the_python_sdk_encrypted(
    shared_server: TidingsServer, pusher_js: Callable[..., PusherJsDriver], master_key: str
) -> None:
    driver = pusher_js(shared_server, encryption_master_key_base64=master_key)
    accountant = driver.client("accountant")
    accountant.subscribe(CHANNEL)

    driver.rest.trigger(CHANNEL, "bonus-paid", {"employee": 7, "bonus": 99})

    assert accountant.wait_for(CHANNEL, "bonus-paid").data == {"employee": 7, "bonus": 99}


def test_the_wire_carries_only_ciphertext(
    shared_server: TidingsServer, pusher_js: Callable[..., PusherJsDriver], master_key: str
) -> None:
    """The frame pusher-js receives holds a nonce and ciphertext; only pusher-js decrypts."""
    driver = pusher_js(shared_server, encryption_master_key_base64=master_key)
    accountant = driver.client("accountant", record_messages=True)
    accountant.subscribe(CHANNEL)

    driver.node_sdk("trigger", CHANNEL, "salary-paid", {"secret": "top"})

    event = accountant.wait_for(CHANNEL, "salary-paid")
    assert event.data == {"secret": "top"}
    wire = accountant.wait_message("salary-paid")["data"]
    assert set(wire) == {"nonce", "ciphertext"}
    assert "top" not in json.dumps(wire)
