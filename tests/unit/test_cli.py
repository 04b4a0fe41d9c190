"""The command line: commands registered by other packages, and what a missing extra says."""

from __future__ import annotations

import subprocess
import sys


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_demo_command_is_registered_by_the_demo_package() -> None:
    from tidings.cli import build_parser

    args = build_parser().parse_args(["demo", "--port", "3100"])
    assert args.command == "demo" and args.port == 3100


def test_building_the_parser_loads_neither_the_demo_app_nor_the_pusher_sdk() -> None:
    # Every worker of `tidings serve --workers N` builds the parser: it must stay light.
    result = run_python(
        "import sys\n"
        "from tidings.cli import build_parser\n"
        "build_parser().parse_args(['serve'])\n"
        "print(sorted(m for m in sys.modules if m.startswith(('pusher', 'tidings_demo.'))))\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['tidings_demo.command']"


def test_demo_without_the_pusher_sdk_says_which_extra_to_install() -> None:
    # sys.modules[name] = None is how Python spells "this module cannot be imported".
    result = run_python(
        "import sys\n"
        "sys.modules['pusher'] = None\n"
        "from tidings.cli import main\n"
        "sys.exit(main(['demo']))\n"
    )
    assert result.returncode == 2
    assert "pip install 'tidings[demo]'" in result.stderr
