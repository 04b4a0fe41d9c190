"""wrk's output, the request file its Lua script reads, the send-time log and the matching of
sends to deliveries: the HTTP figures are only as good as these parsers."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench import wrk

# wrk 4.1.0 (Debian), --latency, with a Lua done() that printed nothing.
TEXT_REPORT = """\
Running 1s test @ http://127.0.0.1:17001/nothing
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   146.15us  625.92us   9.19ms   96.10%
    Req/Sec   170.05k    30.15k  189.26k    81.82%
  Latency Distribution
     50%   34.00us
     75%   40.00us
     90%   52.00us
     99%    3.54ms
  185504 requests in 1.10s, 7.96MB read
  Socket errors: connect 0, read 3, write 1, timeout 2
  Non-2xx or 3xx responses: 185504
Requests/sec: 168646.75
Transfer/sec:      7.24MB
"""

JSON_LINE = (
    'BENCH-WRK-JSON {"duration_us":2009636,"requests":22741,"bytes":9005436,'
    '"errors":{"connect":0,"read":0,"write":0,"status":0,"timeout":0},'
    '"latency_us":{"min":276,"max":12044,"mean":2723.5,"stdev":1323.4,"p50":2550,'
    '"p90":4161,"p99":7827,"p99.9":10284},"cpu_s":0.6204,"threads":1,"bad_status":2,'
    '"error_bodies":1,"closes":22741,"logged":0,"checked":22741,"sent_warmup":5,'
    '"sent_measured":22700,"sent_drain":36}'
)


def test_the_json_line_wins_over_the_text_report() -> None:
    result = wrk.parse_output(TEXT_REPORT.replace("Transfer/sec", JSON_LINE + "\nTransfer/sec"))
    assert result.requests == 22741
    assert result.duration_s == pytest.approx(2.009636)
    assert result.requests_per_s == pytest.approx(22741 / 2.009636)
    assert result.latency_us["p99"] == 7827 and result.latency_us["p99.9"] == 10284
    assert result.cpu_s == pytest.approx(0.6204)
    assert (result.checked, result.closes, result.bad_status, result.error_bodies) == (
        22741,
        22741,
        2,
        1,
    )
    # With the response hook on, non-2xx is its exact count; rejected adds "error" bodies.
    assert result.non_2xx == 2 and result.rejected == 3
    assert result.sent == {"warmup": 5, "measured": 22700, "drain": 36}


def test_without_the_hook_non_2xx_is_wrks_status_count() -> None:
    line = JSON_LINE.replace('"status":0', '"status":7').replace('"checked":22741', '"checked":0')
    result = wrk.parse_output(line)
    assert result.non_2xx == 7 and result.rejected == 7


def test_the_text_report_parses_when_no_json_line() -> None:
    result = wrk.parse_output(TEXT_REPORT)
    assert result.requests == 185504
    assert result.duration_s == pytest.approx(185504 / 168646.75)
    assert result.errors == {"connect": 0, "read": 3, "write": 1, "status": 185504, "timeout": 2}
    assert result.socket_errors == 6 and result.non_2xx == 185504
    assert result.latency_us["mean"] == pytest.approx(146.15)
    assert result.latency_us["max"] == pytest.approx(9190)
    assert result.latency_us["p50"] == pytest.approx(34)
    assert result.latency_us["p99"] == pytest.approx(3540)
    assert math.isnan(result.cpu_s)


def test_a_clean_text_report_has_no_errors() -> None:
    clean = "\n".join(
        line for line in TEXT_REPORT.splitlines() if "errors" not in line and "Non-2xx" not in line
    )
    result = wrk.parse_text(clean)
    assert result.socket_errors == 0 and result.non_2xx == 0


def test_output_without_a_summary_is_an_error() -> None:
    with pytest.raises(ValueError, match="no wrk summary"):
        wrk.parse_output("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_request_file_flags_each_request_and_puts_the_drain_last() -> None:
    data = wrk.request_file(
        [wrk.Signed(b"POST /a HTTP/1.1\r\n\r\n"), wrk.Signed(b"POST /b", sampled=True)],
        drain=b"POST /drain",
    )
    assert data == b"0POST /a HTTP/1.1\r\n\r\n\x001POST /b\x002POST /drain\x00"
    with pytest.raises(ValueError):
        wrk.request_file([wrk.Signed(b"bad\0byte")])


def test_send_log_lines_become_sorted_nanoseconds_per_index() -> None:
    text = "3 100 999999999\n3 100 5\n0 7 0\n2 1"  # the last line cut short
    assert wrk.parse_sends(text) == {3: [100_000_000_005, 100_999_999_999], 0: [7_000_000_000]}


def test_send_logs_of_several_threads_merge(tmp_path: Path) -> None:
    (tmp_path / "sends.0").write_text("1 0 300\n")
    (tmp_path / "sends.1").write_text("1 0 100\n2 0 50\n")
    assert wrk.read_sends(tmp_path / "sends") == {1: [100, 300], 2: [50]}


def test_each_receipt_matches_the_latest_send_of_its_index_before_it() -> None:
    sends = {4: [1_000, 500_000], 9: [2_000]}
    receipts = [
        (4, 1_300),  # the first send of 4
        (4, 500_250),  # the second one, not the first
        (9, 1_500),  # before any logged send of 9 (warm-up): skipped
        (9, 2_100),
        (5, 9_999),  # an index with no logged send: skipped
    ]
    assert wrk.match_latencies(sends, receipts) == [300, 250, 100]


def test_the_static_and_pooled_commands(tmp_path: Path) -> None:
    requests = tmp_path / "requests"
    static = wrk.WrkRun("http://127.0.0.1:1", requests, seconds=3, check=False).command("wrk")
    assert static[:6] == ["wrk", "-c32", "-t1", "-d3s", "--timeout=5s", "--latency"]
    assert static[-3:] == ["--", str(requests), "0"]
    pooled = wrk.WrkRun(
        "http://127.0.0.1:1",
        requests,
        sends_prefix=tmp_path / "sends",
        measure_from_ns=10,
        measure_to_ns=20,
    ).command("wrk")
    assert pooled[-5:] == [str(requests), "1", str(tmp_path / "sends"), "10", "20"]


def test_a_missing_wrk_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIDINGS_BENCH_WRK", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(wrk.WrkMissing, match="apt-get install wrk"):
        wrk.wrk_path()
