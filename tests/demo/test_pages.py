"""The pages get the public configuration only, and the real pusher-js bundle from npm."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest
import requests

from tests.support.demo import CLUSTER, DemoProcess
from tests.support.server import ROOT

PAGES = ["/", "/sessions", "/messages", "/presence", "/login"]


@pytest.mark.parametrize("path", PAGES)
def test_each_page_carries_the_public_config_and_never_the_secret(
    demo: DemoProcess, api: Callable[..., requests.Response], path: str
) -> None:
    page = api("GET", path)

    assert page.status_code == 200
    block = re.search(
        r'<script id="public-config" type="application/json">(.*?)</script>', page.text
    )
    assert block is not None
    assert json.loads(block.group(1)) == {
        "key": demo.app.key,
        "cluster": CLUSTER,
        "wsHost": "127.0.0.1",
        "wsPort": demo.server_port,
        "user": None,
    }
    assert demo.app.secret not in page.text


def test_the_served_pusher_js_is_the_npm_bundle(api: Callable[..., requests.Response]) -> None:
    served = api("GET", "/vendor/pusher.min.js")

    bundle = ROOT / "node_modules/pusher-js/dist/web/pusher.min.js"
    assert served.status_code == 200
    assert served.content == bundle.read_bytes()


def test_a_logged_in_name_is_escaped_in_the_page(api: Callable[..., requests.Response]) -> None:
    api("POST", "/login", data={"name": "<b>Eve</b>"})

    page = api("GET", "/")

    assert "&lt;b&gt;Eve&lt;/b&gt;" in page.text
    assert "<b>Eve</b>" not in page.text
    assert "\\u003cb>Eve\\u003c/b>" in page.text
