"""The HTTP API against its published description (docs/openapi.yaml), by schemathesis.

A live ``tidings serve`` with real pusher-js clients in a presence, a private and a cache
channel (and one signed in), so the read endpoints have something to report. Every generated
request is signed by a schemathesis hook the way the SDKs sign (PROTOCOL.md section 5.4), with
the official SDK's HMAC, so it reaches the real handlers; a second test sends them unsigned.
Each response must be no 5xx and match the document: status, content type, headers, body.

The budget is hypothesis's profile (tests/conftest.py): ``--hypothesis-profile=long`` or
``TIDINGS_FUZZ=long`` for a developer's longer run.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from pusher.signature import sign
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.pusher_js import PusherJsDriver
from tests.support.server import ROOT, AppSpec, TidingsServer

DOCUMENT = ROOT / "docs" / "openapi.yaml"
APP = AppSpec(
    id="4242",
    key="schema-key",
    secret="schema-secret",  # test fixture credential
    settings={"enable_client_events": True, "enable_subscription_count": True},
)
AUTH_PARAMS = ("auth_key", "auth_timestamp", "auth_version", "body_md5", "auth_signature")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


class PusherSignature(requests.auth.AuthBase):
    """Signs the request exactly as it will be sent: its final path, query and body bytes."""

    def __init__(self, key: str, secret: str) -> None:
        self.key = key
        self.secret = secret

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        assert request.url is not None and request.method is not None
        url = urlsplit(request.url)
        kept = [
            (name, value)
            for name, value in parse_qsl(url.query, keep_blank_values=True)
            if name not in AUTH_PARAMS
        ]
        body = request.body or b""
        body = body.encode() if isinstance(body, str) else body
        auth = {
            "auth_key": self.key,
            "auth_timestamp": str(int(time.time())),
            "auth_version": "1.0",
            "body_md5": hashlib.md5(body).hexdigest(),
        }
        # PROTOCOL.md 5.4: names lower-cased, sorted, joined unescaped. The SDK's own helper
        # would fold the repeated and mixed-case names schemathesis sends into one.
        pairs = sorted((name.lower(), value) for name, value in [*kept, *auth.items()])
        query = "&".join(f"{name}={value}" for name, value in pairs)
        to_sign = "\n".join([request.method, url.path, query])
        auth["auth_signature"] = sign(self.secret, to_sign)
        sent = urlencode([*kept, *auth.items()], safe="")
        request.url = urlunsplit((url.scheme, url.netloc, url.path, sent, ""))
        return request


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """Sign every request unless the test asked for none (``auth=None``)."""
    kwargs.setdefault("auth", PusherSignature(APP.key, APP.secret))


@pytest.fixture(scope="module")
def api_server() -> Iterator[TidingsServer]:
    with TidingsServer([APP]) as server, PusherJsDriver(server).start() as driver:
        ada = driver.client("ada", presence={"user_id": "u-ada", "user_info": {"name": "Ada"}})
        for channel in ("presence-room", "private-room", "cache-room", "room"):
            ada.subscribe(channel)
        bob = driver.client("bob", user={"id": "u-bob", "user_info": {"name": "Bob"}})
        bob.signin()
        driver.rest.trigger("cache-room", "cached", {"n": 1})
        yield server


# Loaded at import (schemathesis' fixture-based loader relies on pytest internals that pytest
# 9 removed); the live server's address is given to each call instead.
schema = schemathesis.openapi.from_path(str(DOCUMENT))
# The app and the auth parameters are fixed, so that generation varies everything else and the
# hook's signature stands; the hook replaces the placeholders.
schema.config.update(
    parameters={
        "app_id": APP.id,
        "auth_key": APP.key,
        "auth_timestamp": "0",
        "auth_version": "1.0",
        "body_md5": "0" * 32,
        "auth_signature": "0" * 64,
    },
)
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
# Per operation; the "ci" profile keeps the whole file to a few seconds.
budget = settings(
    max_examples=min(1000, max(10, settings.default.max_examples // 5)),
    suppress_health_check=list(HealthCheck),
)


@schema.parametrize()
@budget
def test_signed_requests_match_the_document(case: Any, api_server: TidingsServer) -> None:
    case.call_and_validate(base_url=api_server.url, checks=CHECKS)


@schema.include(path_regex="^/(apps|users)/").parametrize()
@settings(max_examples=5, suppress_health_check=list(HealthCheck))
def test_unsigned_requests_are_refused_as_documented(case: Any, api_server: TidingsServer) -> None:
    response = case.call_and_validate(base_url=api_server.url, checks=CHECKS, auth=None)
    assert response.status_code in (401, 404)


def test_the_document_is_the_one_the_readme_links() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "docs/openapi.yaml" in readme
    assert Path(DOCUMENT).read_text().startswith("openapi: 3.1")
