"""Use cases: orchestrate protocol rules and ports; own the transaction."""
