"""Who may use the debug console, and which apps it shows.

Without ``[server] console_token`` the console serves only the documented development app,
whose credentials are public anyway; with a configured app of its own and no token the console
does not exist (404). With a token it serves every app, to requests that carry the token
(a header, or ``?token=`` where a browser cannot set headers: the page's WebSocket).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from tidings.apps import App, AppStore
from tidings.config import DEV_APP_ID, DEV_APP_KEY, DEV_APP_SECRET

TOKEN_HEADER = "x-tidings-console-token"
TOKEN_PARAMETER = "token"


def is_dev_app(app: App) -> bool:
    return (app.id, app.key, app.secret) == (DEV_APP_ID, DEV_APP_KEY, DEV_APP_SECRET)


def presented_token(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    token = headers.get(TOKEN_HEADER)
    return token if token is not None else query.get(TOKEN_PARAMETER)


class ConsoleAccess:
    def __init__(self, token: str, apps: AppStore) -> None:
        self._token = token.encode()
        self._apps = apps

    @property
    def needs_token(self) -> bool:
        return bool(self._token)

    def refusal(self, presented: str | None) -> int | None:
        """None when the request may go on; else its status: 404 (no console here) or 401."""
        if not self._token:
            return None if self.apps() else 404
        # compare_digest: how long the comparison takes says nothing of where it differed.
        if presented is None or not hmac.compare_digest(presented.encode(), self._token):
            return 401
        return None

    def apps(self) -> list[App]:
        """The apps the console shows; read on each call, as a store's apps may change."""
        apps = self._apps.all()
        return apps if self._token else [app for app in apps if is_dev_app(app)]

    def app(self, app_id: str) -> App | None:
        return next((app for app in self.apps() if app.id == app_id), None)
