"""The server: the Pusher connection core, the HTTP API endpoints and their wiring."""
