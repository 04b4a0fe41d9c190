"""The HTML pages, the static files and the real pusher-js bundle from npm.

Pages get the browser's configuration as a JSON block built from ``PublicConfig`` only, so the
secret cannot leak into a page however the templates change.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from string import Template

from aiohttp import web

from tidings_demo.auth import current_user
from tidings_demo.config import DemoConfig

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
PUSHER_JS = web.AppKey("pusher_js", Path)

# path -> (template, title, page script or "")
PAGES = {
    "/": ("index.html", "Home", ""),
    "/sessions": ("sessions.html", "Agent sessions", "sessions.js"),
    "/messages": ("messages.html", "User messages", "messages.js"),
    "/presence": ("presence.html", "Presence and private chat", "presence.js"),
    "/login": ("login.html", "Log in", ""),
}


def _template(name: str) -> Template:
    return Template((TEMPLATES / name).read_text())


def _json_for_script(value: object) -> str:
    # "<" escaped so no value can close the <script> element it sits in.
    return json.dumps(value).replace("<", "\\u003c")


def render(request: web.Request, config: DemoConfig, path: str) -> str:
    template, title, script = PAGES[path]
    user = current_user(request)
    browser_config = {
        **config.public.as_pusher_js(),
        "user": {"id": user.id, "name": user.name} if user else None,
    }
    if user:
        account = (
            f'<span id="whoami">{html.escape(user.name)}</span> '
            '<form method="post" action="/logout"><button>Log out</button></form>'
        )
    else:
        account = '<a id="login-link" href="/login">Log in</a>'
    tidings = f"http://{browser_config['wsHost']}:{browser_config['wsPort']}"
    body = _template(template).substitute(
        app_origin=html.escape(f"{request.scheme}://{request.host}"),
        tidings_origin=html.escape(tidings),
        login_error="Please enter a name (up to 40 characters)."
        if request.query.get("error") == "name"
        else "",
        next=html.escape(request.query.get("next", "/presence")),
    )
    return _template("layout.html").substitute(
        title=html.escape(title),
        page=path.strip("/") or "home",
        config=_json_for_script(browser_config),
        page_script=f'<script type="module" src="/static/js/{script}"></script>' if script else "",
        account=account,
        body=body,
    )


async def pusher_js(request: web.Request) -> web.FileResponse:
    return web.FileResponse(request.app[PUSHER_JS], headers={"Cache-Control": "no-cache"})


def add_routes(app: web.Application, config: DemoConfig, pusher_js_path: Path) -> None:
    app[PUSHER_JS] = pusher_js_path
    for path in PAGES:

        async def page(request: web.Request, path: str = path) -> web.Response:
            return web.Response(text=render(request, config, path), content_type="text/html")

        app.router.add_get(path, page)
    app.router.add_get("/vendor/pusher.min.js", pusher_js)
    app.router.add_static("/static", STATIC)
