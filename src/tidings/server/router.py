"""Method + path to a handler, with ``{name}`` segments captured (percent-decoded)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import unquote

from tidings.net.http import Request, Response

Route = Callable[[Request, dict[str, str]], Awaitable[Response]]
# A template's segments: a literal to compare, or None where a parameter goes.
_Pattern = tuple[tuple[str | None, ...], tuple[str, ...]]
RECENT_ROUTES = 1024


class Router:
    def __init__(self) -> None:
        # By segment count, so a path is compared only with templates of its own length.
        self._routes: dict[int, list[tuple[str, _Pattern, Route]]] = {}
        # Recent answers: an app's backend calls the same few paths over and over.
        self._recent: dict[tuple[str, str], tuple[Route, dict[str, str]] | None] = {}

    def add(self, method: str, template: str, route: Route) -> None:
        segments = template.strip("/").split("/")
        literals = tuple(None if s.startswith("{") else s for s in segments)
        names = tuple(s[1:-1] for s in segments if s.startswith("{"))
        self._routes.setdefault(len(segments), []).append((method, (literals, names), route))

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The route and its parameters; callers must not change the returned dict."""
        key = (method, path)
        found = self._recent.get(key)
        if found is None:
            found = self._match(method, path)
            if len(self._recent) >= RECENT_ROUTES:
                self._recent.clear()
            self._recent[key] = found
        return found

    def _match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        segments = path.strip("/").split("/")
        for route_method, (literals, names), route in self._routes.get(len(segments), ()):
            if route_method != method:
                continue
            values = []
            for literal, segment in zip(literals, segments, strict=True):
                if literal is None:
                    if not segment:
                        break
                    values.append(unquote(segment))
                elif literal != segment:
                    break
            else:
                return route, dict(zip(names, values, strict=True))
        return None
