"""The `lukhas-id` command line (Typer). Errors print one line and exit non-zero."""

from lukhas_id.cli.main import main

__all__ = ["main"]
