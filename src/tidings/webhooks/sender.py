"""One HTTP attempt at one webhook: sign the exact body, POST it, report success or why not."""

from __future__ import annotations

import aiohttp

from tidings import __version__
from tidings.apps import App
from tidings.protocol.signatures import webhook_signature
from tidings.webhooks.queue import NewWebhook


def signed_headers(webhook: NewWebhook, app: App, body: bytes) -> dict[str, str]:
    headers = dict(webhook.headers)
    # Exactly "application/json": the Node SDK refuses anything else, even "; charset=utf-8".
    headers["Content-Type"] = "application/json"
    headers["X-Pusher-Key"] = app.key
    headers["X-Pusher-Signature"] = webhook_signature(app.secret, body)
    return headers


class Sender:
    def __init__(self, timeout: float) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def post(self, webhook: NewWebhook, app: App, body: bytes | None = None) -> str | None:
        """None when the receiver answered 2xx, else a short reason for the retry log."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, headers={"User-Agent": f"tidings-webhooks/{__version__}"}
            )
        body = webhook.body if body is None else body
        try:
            async with self._session.post(
                webhook.url,
                data=body,
                headers=signed_headers(webhook, app, body),
                allow_redirects=False,  # a redirect is not an acknowledgement
            ) as response:
                await response.read()
                if 200 <= response.status < 300:
                    return None
                return f"HTTP {response.status}"
        except TimeoutError:
            return f"no answer within {self._timeout.total:g}s"
        except (aiohttp.ClientError, OSError) as error:
            return f"{type(error).__name__}: {error}"[:500]

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
