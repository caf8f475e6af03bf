"""`lukhas-id events`: follow identity events (`tail`) and run the outbox relay alone (`relay`).

`tail` prints one JSON object per line (`IdentityEvent.as_dict()`; from NATS with `stream_seq`, the
stream's sequence number): from NATS JetStream (an ephemeral ordered consumer) when LUKHAS_ID_NATS_URL
is set, else from the outbox table (polled). An unknown tenant or event type is a usage error (exit 2)
with the closest known name. Ctrl-C ends it cleanly (exit 0).
"""

from __future__ import annotations

import asyncio
import difflib
import sys
from typing import Annotated, Any

import orjson
import typer

from lukhas_id.bootstrap import Container
from lukhas_id.cli.common import run
from lukhas_id.domain.events import EventType

events_app = typer.Typer(help="Identity events: follow them, relay the outbox.", no_args_is_help=True)

_TYPES = {t.value for t in EventType}
_TAIL_BATCH = 500


def did_you_mean(value: str, known: list[str]) -> str:
    close = difflib.get_close_matches(value, known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_types(types: list[str]) -> list[str]:
    for name in types:
        if name not in _TYPES:
            raise typer.BadParameter(
                f"unknown event type {name!r}{did_you_mean(name, sorted(_TYPES))}", param_hint="--type"
            )
    return types


async def tenant_id(c: Container, name: str | None) -> str | None:
    if name is None:
        return None
    tenants = await c.tenants.list()
    for tenant in tenants:
        if tenant.name == name:
            return tenant.id
    hint = did_you_mean(name, [t.name for t in tenants])
    raise typer.BadParameter(f"no tenant named {name!r}{hint}", param_hint="--tenant")


def _line(data: dict[str, Any]) -> None:
    sys.stdout.write(orjson.dumps(data).decode() + "\n")
    sys.stdout.flush()


async def _from_outbox(c: Container, tenant: str | None, types: list[str], from_start: bool) -> None:
    position = 0 if from_start else await c.outbox.last_position()
    while True:
        entries = await c.outbox.after(position, _TAIL_BATCH, tenant_id=tenant, types=types)
        for entry in entries:
            _line(dict(entry.payload))
            position = entry.position
        if len(entries) < _TAIL_BATCH:
            await asyncio.sleep(c.settings.event_relay_poll_interval)


async def _from_nats(c: Container, url: str, tenant: str | None, types: list[str], from_start: bool) -> None:
    from nats.js.api import DeliverPolicy

    from lukhas_id.adapters.events.nats import connect, ensure_stream

    settings = c.settings
    client = await connect(url, name="lukhas-id events tail")
    try:
        js = client.jetstream()
        await ensure_stream(js, settings.nats_stream, settings.nats_subject_prefix)
        last = f".{types[0]}" if len(types) == 1 else ".>"
        subject = f"{settings.nats_subject_prefix}.{tenant or '*'}{last}"
        policy = DeliverPolicy.ALL if from_start else DeliverPolicy.NEW
        sub = await js.subscribe(subject, stream=settings.nats_stream, ordered_consumer=True, deliver_policy=policy)
        wanted = set(types)
        while True:
            msg = await sub.next_msg(timeout=None)
            data = orjson.loads(msg.data)
            if wanted and data.get("type") not in wanted:
                continue
            _line({**data, "stream_seq": msg.metadata.sequence.stream})
    finally:
        await client.close()


@events_app.command()
def tail(
    tenant: Annotated[str | None, typer.Option("--tenant", "-t", help="Only this tenant's events (by name).")] = None,
    types: Annotated[
        list[str] | None, typer.Option("--type", help="Only events of this type (repeatable), e.g. sign_in.refused.")
    ] = None,
    from_start: Annotated[bool, typer.Option("--from-start", help="Begin with the oldest event kept.")] = False,
) -> None:
    """Follow identity events as JSON lines (from NATS when configured, else from the outbox)."""
    wanted = check_types(types or [])

    async def body(c: Container) -> None:
        tid = await tenant_id(c, tenant)
        if c.settings.nats_url:
            await _from_nats(c, c.settings.nats_url, tid, wanted, from_start)
        else:
            await _from_outbox(c, tid, wanted, from_start)

    try:
        run(body)
    except KeyboardInterrupt:
        return


@events_app.command()
def relay() -> None:
    """Run the outbox relay in this process until Ctrl-C (the servers run one each already)."""

    async def body(c: Container) -> None:
        if c.relay is None:
            raise typer.BadParameter("the event outbox is off (LUKHAS_ID_EVENT_OUTBOX=false)")
        typer.echo(f"relaying identity events ({'NATS' if c.settings.nats_url else 'in process'})", err=True)
        await c.relay.run()

    try:
        run(body)
    except KeyboardInterrupt:
        return
