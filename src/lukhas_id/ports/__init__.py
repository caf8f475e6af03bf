"""Ports: typed Protocols, one small port per aggregate or concern. Adapters implement them."""
