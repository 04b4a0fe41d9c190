"""The demo's aiohttp application: API routes, auth endpoints, pages and static files."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from tidings_demo import auth, messages, pages
from tidings_demo.agent import routes as agent_routes
from tidings_demo.agent.assistant import Assistant, ScriptedAssistant
from tidings_demo.agent.workflow import Retry, Runs
from tidings_demo.config import DemoConfig
from tidings_demo.httputil import CONFIG


def build_app(
    config: DemoConfig,
    pusher_js: Path,
    assistant: Assistant | None = None,
    retry: Retry | None = None,
) -> web.Application:
    app = web.Application(client_max_size=64 * 1024)
    app[CONFIG] = config
    messages.add_routes(app)
    agent_routes.add_routes(app, Runs(config, assistant or ScriptedAssistant(), retry))
    auth.add_routes(app)
    pages.add_routes(app, config, pusher_js)
    return app
