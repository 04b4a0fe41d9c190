"""``tidings.net.http``: the query string as endpoints see it, and a response's exact bytes."""

from __future__ import annotations

import httptools
import pytest

from tidings.net.http import Request, Response, serialize


def request(query_string: str) -> Request:
    return Request("GET", "/apps/1/channels", query_string, {})


# -- Request.query / query_items -------------------------------------------------------------


def test_query_items_keep_order_and_repeats() -> None:
    assert request("b=2&a=1&b=3").query_items == [("b", "2"), ("a", "1"), ("b", "3")]


def test_query_keeps_the_last_of_a_repeated_name() -> None:
    assert request("b=2&a=1&b=3").query == {"b": "3", "a": "1"}


@pytest.mark.parametrize(
    ("query_string", "expected"),
    [
        ("q=a+b", [("q", "a b")]),  # form encoding: '+' is a space
        ("q=a%2Bb", [("q", "a+b")]),  # an escaped '+' is a plus
        ("q=a%20b", [("q", "a b")]),
        ("q=a%3Db%26c", [("q", "a=b&c")]),  # escaped separators are data, not separators
        ("info%5B%5D=user_count", [("info[]", "user_count")]),  # names are decoded too
        ("first+name=x", [("first name", "x")]),
        ("q=%C3%A9t%C3%A9", [("q", "été")]),  # UTF-8 percent escapes
        ("q=100%25", [("q", "100%")]),
    ],
)
def test_query_items_decode_plus_and_percent_escapes(
    query_string: str, expected: list[tuple[str, str]]
) -> None:
    assert request(query_string).query_items == expected


@pytest.mark.parametrize(
    ("query_string", "expected"),
    [
        ("a=&b=2", [("a", ""), ("b", "2")]),
        ("a&b=2", [("a", ""), ("b", "2")]),  # no '=' at all
        ("a=1&b=", [("a", "1"), ("b", "")]),
    ],
)
def test_query_items_keep_blank_values(query_string: str, expected: list[tuple[str, str]]) -> None:
    assert request(query_string).query_items == expected


def test_blank_value_is_in_query_dict() -> None:
    assert request("filter_by_prefix=&auth_key=k").query == {
        "filter_by_prefix": "",
        "auth_key": "k",
    }


def test_empty_query_string_has_no_items() -> None:
    assert request("").query_items == []
    assert request("").query == {}


def test_query_items_are_decoded_once_and_reused() -> None:
    parsed = request("a=1")
    assert parsed.query_items is parsed.query_items


def test_query_leaves_path_alone() -> None:
    parsed = Request("GET", "/apps/1/channels/a%20b", "x=1", {})
    assert parsed.path == "/apps/1/channels/a%20b"
    assert parsed.query == {"x": "1"}


# -- serialize() -------------------------------------------------------------------------------


def test_serialize_keep_alive_exact_bytes() -> None:
    assert serialize(Response(200, b"{}"), keep_alive=True) == (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    )


def test_serialize_close_adds_connection_close() -> None:
    assert serialize(Response(404, b'{"code":404}'), keep_alive=False) == (
        b"HTTP/1.1 404 Not Found\r\n"
        b"Content-Type: application/json\r\n"
        b"Content-Length: 12\r\n"
        b"Connection: close\r\n"
        b"\r\n"
        b'{"code":404}'
    )


def test_serialize_extra_headers_follow_in_order() -> None:
    response = Response(
        429,
        b"{}",
        headers={"X-RateLimit-Limit": "2", "X-RateLimit-Remaining": "0", "Retry-After": "1"},
    )
    assert serialize(response, keep_alive=False) == (
        b"HTTP/1.1 429 Too Many Requests\r\n"
        b"Content-Type: application/json\r\n"
        b"Content-Length: 2\r\n"
        b"Connection: close\r\n"
        b"X-RateLimit-Limit: 2\r\n"
        b"X-RateLimit-Remaining: 0\r\n"
        b"Retry-After: 1\r\n"
        b"\r\n"
        b"{}"
    )


def test_serialize_own_content_type_and_empty_body() -> None:
    assert serialize(Response(503, b"", "text/plain; charset=utf-8"), keep_alive=True) == (
        b"HTTP/1.1 503 Service Unavailable\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Length: 0\r\n"
        b"\r\n"
    )


def test_serialize_counts_body_bytes_not_characters() -> None:
    body = "été".encode()
    data = serialize(Response(200, body, "text/plain; charset=utf-8"), keep_alive=True)
    assert b"Content-Length: 5\r\n" in data
    assert data.endswith(b"\r\n\r\n" + body)


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (400, b"Bad Request"),
        (405, b"Method Not Allowed"),
        (408, b"Request Timeout"),
        (413, b"Request Entity Too Large"),
        (426, b"Upgrade Required"),
        (431, b"Request Header Fields Too Large"),
        (500, b"Internal Server Error"),
        (599, b"Unknown"),
    ],
)
def test_serialize_status_line_reason(status: int, reason: bytes) -> None:
    data = serialize(Response(status), keep_alive=False)
    assert data.startswith(b"HTTP/1.1 %d %s\r\n" % (status, reason))


class _Parsed:
    """What httptools' response parser (llhttp) makes of serialized bytes."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = b""
        self.statuses: list[int] = []
        self.keep_alive: list[bool] = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.statuses.append(self.parser.get_status_code())
        self.keep_alive.append(self.parser.should_keep_alive())


@pytest.mark.parametrize("keep_alive", [True, False])
def test_serialized_responses_parse_back_one_after_another(keep_alive: bool) -> None:
    parsed = _Parsed()
    first = Response(200, b'{"a":1}', headers={"Retry-After": "1"})
    second = Response(404, b"nope", "text/plain")
    parsed.parser.feed_data(
        serialize(first, keep_alive=True) + serialize(second, keep_alive=keep_alive)
    )
    assert parsed.statuses == [200, 404]
    assert parsed.keep_alive == [True, keep_alive]
    assert parsed.body == b'{"a":1}nope'
    assert (b"Retry-After", b"1") in parsed.headers
