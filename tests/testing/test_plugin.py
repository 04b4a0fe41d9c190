"""The pytest plugin as a user meets it: a suite of its own, run by a pytest in a subprocess.

The plugin must come from the ``pytest11`` entry point (no conftest, no ``-p``), so each case
writes test files into a fresh directory and runs ``python -m pytest`` there.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

INI = """\
[pytest]
asyncio_mode = {mode}
asyncio_default_fixture_loop_scope = function
"""


def run_suite(
    tmp_path: Path, files: dict[str, str], *args: str, mode: str = "auto", ini: str = ""
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "pytest.ini").write_text(INI.format(mode=mode) + ini)
    for name, text in files.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def passed(result: subprocess.CompletedProcess[str], count: int) -> None:
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{count} passed" in result.stdout, result.stdout


def test_synchronous_tests_get_a_server_reset_between_them(tmp_path: Path) -> None:
    result = run_suite(
        tmp_path,
        {
            "test_sync.py": """
            def test_publish(pusher_client, tidings_events, tidings_server):
                assert tidings_server.port > 0
                pusher_client.trigger("cache-a", "x", {"n": 1})
                assert tidings_events.wait_for("cache-a", "x").data == {"n": 1}

            def test_next_sees_nothing_of_it(tidings_events, pusher_client):
                assert tidings_events.events == []
                assert pusher_client.channels_info() == {"channels": {}}

            def test_env_points_at_it(tidings_server):
                env = tidings_server.env()
                assert env["PUSHER_PORT"] == str(tidings_server.port)
                assert env["PUSHER_HOST"] == "127.0.0.1"
            """
        },
    )
    passed(result, 3)


def test_one_server_for_the_session(tmp_path: Path) -> None:
    test = """
        def test_port(tidings_server):
            with open("ports.txt", "a") as ports:
                print(tidings_server.port, file=ports)
        """
    passed(run_suite(tmp_path, {"test_a.py": test, "test_b.py": test}), 2)
    ports = (tmp_path / "ports.txt").read_text().split()
    assert len(ports) == 2
    assert ports[0] == ports[1]


def test_a_test_reaching_the_server_through_a_fixture_of_its_own_is_reset_too(
    tmp_path: Path,
) -> None:
    result = run_suite(
        tmp_path,
        {
            "conftest.py": """
            import pytest

            @pytest.fixture(scope="session")
            def my_app(tidings_server):
                return tidings_server  # stands for an app started once with env()
            """,
            "test_through.py": """
            import pytest

            @pytest.mark.tidings(enable_client_events=True)
            def test_one(my_app):
                assert my_app.app.enable_client_events

            def test_two(my_app):
                assert not my_app.app.enable_client_events
            """,
        },
    )
    passed(result, 2)


def test_marker_per_module_and_test_the_closest_wins(tmp_path: Path) -> None:
    result = run_suite(
        tmp_path,
        {
            "test_marked.py": """
            import pytest

            pytestmark = pytest.mark.tidings(enable_client_events=True, max_event_name_length=50)

            def test_module_settings(tidings_server):
                assert tidings_server.app.enable_client_events
                assert tidings_server.app.max_event_name_length == 50

            @pytest.mark.tidings(enable_client_events=False, server={"activity_timeout": 7})
            def test_closest_wins(tidings_server):
                assert not tidings_server.app.enable_client_events
                assert tidings_server.app.max_event_name_length == 50

            class TestClass:
                pytestmark = pytest.mark.tidings(max_event_name_length=60)

                def test_class_settings(self, tidings_server):
                    assert tidings_server.app.max_event_name_length == 60
                    assert tidings_server.app.enable_client_events
            """,
            "test_unmarked.py": """
            def test_defaults_again(tidings_server):
                assert not tidings_server.app.enable_client_events
                assert tidings_server.app.max_event_name_length == 200
            """,
        },
    )
    passed(result, 4)


def test_option_and_ini_set_the_app_for_every_test(tmp_path: Path) -> None:
    files = {
        "test_option.py": """
            def test_settings(tidings_server):
                assert tidings_server.app.enable_client_events
                assert tidings_server.app.max_presence_members_per_channel == 5
            """
    }
    ini = "tidings_app =\n    max_presence_members_per_channel=5\n"
    result = run_suite(tmp_path, files, "--tidings-app", "enable_client_events=true", ini=ini)
    passed(result, 1)


def test_a_bad_setting_is_reported_not_a_crash(tmp_path: Path) -> None:
    result = run_suite(
        tmp_path,
        {
            "test_bad.py": """
            import pytest

            @pytest.mark.tidings(enable_clientevents=True)
            def test_typo(tidings_server):
                pass
            """
        },
    )
    assert result.returncode == 1
    assert "unknown app setting 'enable_clientevents'" in result.stdout
    bad_option = run_suite(tmp_path, {}, "--tidings-app", "nonsense")
    assert "expected NAME=VALUE" in bad_option.stderr


@pytest.mark.parametrize("mode", ["auto", "strict"])
def test_pusher_socket_in_asyncio_tests(tmp_path: Path, mode: str) -> None:
    result = run_suite(
        tmp_path,
        {
            "test_sockets.py": """
            import pytest

            from tidings.testing import SubscriptionRefused

            pytestmark = [pytest.mark.asyncio, pytest.mark.tidings(enable_client_events=True)]

            async def test_presence_and_client_events(pusher_socket, tidings_events):
                alice = await pusher_socket()
                bob = await pusher_socket()
                await alice.subscribe("presence-room", user_id="alice", user_info={"n": 1})
                joined = await bob.subscribe("presence-room", user_id="bob")
                assert joined["presence"]["count"] == 2
                added = await alice.next_event("presence-room", "pusher_internal:member_added")
                assert added.data["user_id"] == "bob"
                await bob.send_client_event("presence-room", "client-wave", {"hi": True})
                wave = await alice.next_event("presence-room", "client-wave")
                assert (wave.data, wave.user_id) == ({"hi": True}, "bob")
                recorded = await tidings_events.wait_for_async("presence-room", "client-wave")
                assert (recorded.user_id, recorded.client_event) == ("bob", True)

            async def test_private_by_secret_and_a_refusal(pusher_socket, pusher_client):
                socket = await pusher_socket()
                await socket.subscribe("private-inbox")
                pusher_client.trigger("private-inbox", "mail", "plain text")
                assert (await socket.next_event("private-inbox", "mail")).data == "plain text"
                refusing = await pusher_socket(auth_endpoint=lambda sid, ch: {"auth": "k:bad"})
                with pytest.raises(SubscriptionRefused):
                    await refusing.subscribe("private-other")

            async def test_sign_in(pusher_socket):
                socket = await pusher_socket()
                data = await socket.sign_in("u1", {"name": "U"})
                assert "user_data" in data
            """
        },
        mode=mode,
    )
    passed(result, 3)


def test_webhooks_reach_the_receiver(tmp_path: Path) -> None:
    result = run_suite(
        tmp_path,
        {
            "test_hooks.py": """
            async def test_member_added_and_channel_vacated(tidings_webhooks, pusher_socket):
                socket = await pusher_socket()
                await socket.subscribe("presence-x", user_id="7")
                added = await tidings_webhooks.wait_for_async("member_added", "presence-x")
                assert added["user_id"] == "7"
                await socket.close()
                await tidings_webhooks.wait_for_async("channel_vacated", "presence-x")
                assert tidings_webhooks.requests and all(r.valid for r in tidings_webhooks.requests)

            def test_a_later_test_sees_none_of_them(tidings_webhooks, pusher_client):
                assert tidings_webhooks.events == []
                try:
                    tidings_webhooks.wait_for("channel_occupied", timeout=0.05)
                except AssertionError as error:
                    assert "none received at all" in str(error)
                else:
                    raise AssertionError("wait_for should have failed")
            """
        },
    )
    passed(result, 2)


def test_synchronous_fixtures_need_no_asyncio_plugin(tmp_path: Path) -> None:
    files = {
        "test_plain.py": """
            def test_sync(pusher_client, tidings_events):
                pusher_client.trigger("c", "e", {})
                tidings_events.wait_for("c", "e")
            """
    }
    passed(run_suite(tmp_path, files, "-p", "no:asyncio"), 1)
