"""`lukhas-id`: the command line's root (serve, db, tenant, client, keys, revoke, config, user, audit,
events) and main().

Each command group has its module (cli/serve.py, db.py, tenants.py, clients.py, keys.py, revoke.py,
config.py, users.py, audit.py, events.py), and they share cli/common.py; this module assembles them, in
the order the help lists them, and turns every error into one line on standard error and a non-zero exit.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from lukhas_id.cli.audit import audit_app
from lukhas_id.cli.clients import client_app
from lukhas_id.cli.common import CliError, fail
from lukhas_id.cli.config import config_app
from lukhas_id.cli.db import db_app
from lukhas_id.cli.events import events_app
from lukhas_id.cli.keys import keys_app
from lukhas_id.cli.revoke import revoke
from lukhas_id.cli.serve import serve
from lukhas_id.cli.tenants import tenant_app
from lukhas_id.cli.users import user_app
from lukhas_id.errors import LukhasIdError
from lukhas_id.settings import CONFIG_FILE_ENV, unknown_environment

app = typer.Typer(
    name="lukhas-id",
    help="ΛiD (Lukhas ID): an OAuth 2.1 / OpenID Connect identity server.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command()(serve)
app.command()(revoke)
app.add_typer(db_app, name="db")
app.add_typer(tenant_app, name="tenant")
app.add_typer(client_app, name="client")
app.add_typer(keys_app, name="keys")
app.add_typer(config_app, name="config")
app.add_typer(user_app, name="user")
app.add_typer(audit_app, name="audit")
app.add_typer(events_app, name="events")


@app.callback()
def _root(
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML configuration file (environment variables win).")
    ] = None,
) -> None:
    for name, close in unknown_environment(os.environ):  # names only: a value may be a secret
        hint = f" (did you mean {close}?)" if close else ""
        typer.echo(f"warning: unknown setting {name}{hint}", err=True)
    if config is not None:
        if not config.is_file():
            fail(f"config file {config} does not exist")
        os.environ[CONFIG_FILE_ENV] = str(config.resolve())


def main(argv: list[str] | None = None) -> None:
    try:
        app(args=argv, standalone_mode=False)
    except CliError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except LukhasIdError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # usage errors and the rest: one line, non-zero
        usage = _usage_error(exc)
        if usage is not None:
            typer.echo(f"error: {usage[0]}", err=True)
            sys.exit(usage[1])
        if isinstance(exc, typer.Exit):
            sys.exit(exc.exit_code)
        import click

        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        typer.echo(f"error: {type(exc).__name__}: {exc}", err=True)
        sys.exit(1)


def _usage_error(exc: Exception) -> tuple[str, int] | None:
    """The message and exit code of a command-line usage error (a missing argument, an unknown option, a
    value of the wrong type), without the library's exception name. Typer 0.16 and later carry their own
    copy of click, whose exceptions derive from typer.exceptions.TyperException rather than
    click.ClickException: both are recognised."""
    import click

    if isinstance(exc, typer.exceptions.TyperException | click.exceptions.ClickException):
        return exc.format_message(), exc.exit_code
    return None
