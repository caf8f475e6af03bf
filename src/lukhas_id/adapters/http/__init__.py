"""Outbound HTTP adapters (ports/outbound_http.py)."""
