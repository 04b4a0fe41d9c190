"""An operator serves tidings over TLS itself: pusher-js with ``forceTLS`` and both server SDKs
over HTTPS on one port, a clear refusal of unusable files, and a renewed certificate taken up
on SIGHUP while open sockets carry on."""

from __future__ import annotations

import asyncio
import json
import signal
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.integration.test_config_errors import clean_env, serve
from tests.support.pusher_js import PusherJsDriver, wait_until
from tests.support.raw_client import RawClient, sdk_for
from tests.support.server import TidingsServer, free_port
from tests.support.tls import PrivateCA, served_certificate


@pytest.fixture
def ca(tmp_path: Path) -> PrivateCA:
    return PrivateCA.create(tmp_path)


@pytest.fixture
def tls_server(ca: PrivateCA) -> Iterator[TidingsServer]:
    with TidingsServer(server=ca.settings(), ca_file=ca.ca_file) as server:
        yield server


def test_pusher_js_with_force_tls_gets_events_both_sdks_trigger_over_https(
    tls_server: TidingsServer,
) -> None:
    assert tls_server.url.startswith("https://")
    with PusherJsDriver(tls_server) as driver:
        reader = driver.client("reader", options={"forceTLS": True})
        reader.subscribe("private-tls-news")

        driver.rest.trigger("private-tls-news", "from-python", {"over": "https"})
        assert reader.wait_for("private-tls-news", "from-python").data == {"over": "https"}

        answer = driver.node_sdk("trigger", "private-tls-news", "from-node", {"over": "https"})
        assert answer.status == 200, answer.body
        assert reader.wait_for("private-tls-news", "from-node").data == {"over": "https"}

        info = driver.rest.channel_info("private-tls-news", ["subscription_count"])
        assert info["occupied"] is True


async def test_plain_http_on_the_tls_port_gets_no_http_answer(tls_server: TidingsServer) -> None:
    reader, writer = await asyncio.open_connection(tls_server.host, tls_server.port)
    writer.write(b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 10)
    assert not answer.startswith(b"HTTP/")  # at most a TLS alert, then the connection ends
    writer.close()


def test_intermediates_from_tls_ca_are_sent_so_a_client_trusting_the_root_connects(
    ca: PrivateCA,
) -> None:
    intermediate = ca.ca.create_child_ca()
    ca.issue(issuer=intermediate)
    chain = ca.directory / "chain.pem"
    intermediate.cert_pem.write_to_path(str(chain))
    settings = {**ca.settings(), "tls_ca": str(chain)}
    with TidingsServer(server=settings, ca_file=ca.ca_file) as server:
        sdk = sdk_for(server)
        assert sdk.channels_info() == {"channels": {}}


@pytest.mark.parametrize("wrong", ["missing cert", "missing key", "not a certificate"])
def test_an_unusable_file_stops_the_start_with_status_2_naming_it(
    ca: PrivateCA, wrong: str
) -> None:
    cert, key = ca.cert_file, ca.key_file
    if wrong == "missing cert":
        cert = str(ca.directory / "nope.pem")
    elif wrong == "missing key":
        key = str(ca.directory / "nope.pem")
    else:
        cert = key  # a key where the certificate should be
    result = serve("--port", str(free_port()), "--tls-cert", cert, "--tls-key", key)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("tidings: configuration error: TLS:")
    named = cert if wrong != "missing key" else key
    assert repr(named) in result.stderr
    assert ("does not exist" if wrong.startswith("missing") else "CERTIFICATE") in result.stderr


def test_a_key_of_another_certificate_is_refused_as_not_belonging(ca: PrivateCA) -> None:
    (ca.directory / "other").mkdir()
    other = PrivateCA.create(ca.directory / "other")
    result = serve(
        "--port", str(free_port()), "--tls-cert", ca.cert_file, "--tls-key", other.key_file
    )
    assert result.returncode == 2, result.stderr
    assert "does not belong to the certificate" in result.stderr


def test_an_encrypted_key_needs_its_password_from_the_environment(ca: PrivateCA) -> None:
    ca.encrypt_key("s3cret-passphrase")
    port = str(free_port())
    args = ("--port", port, "--tls-cert", ca.cert_file, "--tls-key", ca.key_file)
    without = serve(*args)
    assert without.returncode == 2
    assert "is encrypted: set tls_key_password" in without.stderr
    wrong = serve(*args, env=clean_env(TIDINGS_TLS_KEY_PASSWORD="not-it"))
    assert wrong.returncode == 2
    assert "does not decrypt the private key" in wrong.stderr
    assert "not-it" not in wrong.stderr  # a password is never echoed

    server = TidingsServer(
        env={"TIDINGS_TLS_KEY_PASSWORD": "s3cret-passphrase"}, ca_file=ca.ca_file
    )
    server.server_settings.update(ca.settings())
    with server:
        assert sdk_for(server).channels_info() == {"channels": {}}


def test_only_a_certificate_without_its_key_is_refused(ca: PrivateCA) -> None:
    result = serve("--port", str(free_port()), "--tls-cert", ca.cert_file)
    assert result.returncode == 2
    assert "'tls_cert' is set but 'tls_key' is not" in result.stderr


async def test_sighup_serves_a_renewed_certificate_to_new_sockets_and_keeps_open_ones(
    ca: PrivateCA, tls_server: TidingsServer
) -> None:
    first = served_certificate(tls_server.host, tls_server.port, ca.ca_file)
    async with await RawClient.connect(tls_server) as before:
        await before.subscribe("renewal")
        renewed = ca.issue()
        assert renewed != first
        tls_server.signal(signal.SIGHUP)
        await asyncio.to_thread(
            wait_until,
            lambda: served_certificate(tls_server.host, tls_server.port, ca.ca_file) == renewed,
            "new handshakes are shown the renewed certificate",
        )
        # The socket opened before the reload is still served, in both directions.
        await asyncio.to_thread(sdk_for(tls_server).trigger, "renewal", "still-here", {"n": 1})
        frame = await before.expect("still-here", "renewal")
        assert json.loads(frame["data"]) == {"n": 1}
        async with await RawClient.connect(tls_server) as after:
            await after.subscribe("renewal")


def test_a_failed_reload_keeps_the_old_certificate_and_says_why(
    ca: PrivateCA, tls_server: TidingsServer
) -> None:
    first = served_certificate(tls_server.host, tls_server.port, ca.ca_file)
    Path(ca.key_file).write_text("half-written key\n")
    tls_server.signal(signal.SIGHUP)
    wait_until(lambda: "TLS reload failed" in tls_server.log(), "the server reports the failure")
    assert "still serving the previous certificate" in tls_server.log()
    assert served_certificate(tls_server.host, tls_server.port, ca.ca_file) == first


def test_a_client_that_does_not_trust_the_ca_is_refused(
    tmp_path: Path, tls_server: TidingsServer
) -> None:
    """The verification the tests above rely on is real: another CA's clients fail."""
    stranger = tmp_path / "stranger-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(stranger))
    with pytest.raises(ssl.SSLCertVerificationError):
        served_certificate(tls_server.host, tls_server.port, str(stranger))
