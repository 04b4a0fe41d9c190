"""The aiohttp shell: one port serves the WebSocket endpoint and the signed HTTP API."""
