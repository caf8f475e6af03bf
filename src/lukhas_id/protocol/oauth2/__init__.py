"""OAuth 2.1 protocol rules (RFC 6749 as amended by OAuth 2.1 and RFC 9700)."""
