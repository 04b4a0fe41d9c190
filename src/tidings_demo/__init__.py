"""The seed guide's application rebuilt in Python: an aiohttp app that talks to tidings.

The backend uses only the official ``pusher`` SDK and the pages only real pusher-js, exactly as
an application written for hosted Pusher would; nothing here imports tidings' internals.
"""
