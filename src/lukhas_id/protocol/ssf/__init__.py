"""OpenID Shared Signals (SSF 1.0, CAEP 1.0, RISC 1.0) and RFC 8417/8935/8936/9493: the pure rules."""
