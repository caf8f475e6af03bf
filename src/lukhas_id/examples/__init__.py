"""Examples of operators' own consumers of identity events (docs/events.md)."""
