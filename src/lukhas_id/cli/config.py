"""`lukhas-id config`: the effective configuration, secrets masked."""

from __future__ import annotations

import json

import typer

from lukhas_id.settings import load_settings, masked

config_app = typer.Typer(help="Configuration.", no_args_is_help=True)


@config_app.command("show")
def config_show() -> None:
    """Print the effective configuration (secrets masked)."""
    typer.echo(json.dumps(masked(load_settings()), indent=2, default=str))
