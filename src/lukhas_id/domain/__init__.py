"""Domain types: frozen dataclasses and StrEnums. No I/O, no frameworks."""
