"""ΛiD (Lukhas ID): an OAuth 2.1 / OpenID Connect identity server."""

__version__ = "0.1.0"
