"""The signed HTTP API, one small class per endpoint (PROTOCOL.md section 6)."""
