"""`lukhas-id audit`: verify the tamper-evident audit log, export it as JSON Lines, seal it, print its key.

`verify` exits 0 when every chain is intact, 1 when one is broken (the first broken record of each tenant is
named), 2 on a usage error. `export` streams records page by page (never the whole log in memory); `verify
--file` checks such an export offline. docs/audit.md describes the record, its encoding and the checks.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Annotated, Any, Final

import typer

from lukhas_id.bootstrap import Container
from lukhas_id.cli.common import fail, run
from lukhas_id.domain.audit import AuditRecord, Breach, ChainChecker, Finding, format_time
from lukhas_id.jose.jwt import VerificationKeySet
from lukhas_id.services.audit import ChainReport, checkpoint_problem

audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)

PROGRESS_EVERY: Final = 10_000
_RELATIVE: Final = re.compile(r"(\d{1,9})([smhdw])")
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_LINE_KEYS: Final = frozenset(
    {"tenant", "seq", "id", "type", "time", "principal", "principal_type", "client_id", "trace_id", "origin"}
    | {"metadata", "prev_hash", "hash"}
)

AuditTenantOpt = Annotated[
    str | None, typer.Option("--tenant", "-t", help="Only this tenant (by name; default: every tenant).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def parse_when(value: str, now: float, option: str) -> float:
    """`value` as seconds since the epoch: ISO 8601 (a time without offset is UTC) or a duration before
    now such as 90s, 30m, 24h, 7d, 2w. A usage error (exit 2) otherwise."""
    relative = _RELATIVE.fullmatch(value.strip())
    if relative is not None:
        return now - int(relative.group(1)) * _UNITS[relative.group(2)]
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is neither an ISO 8601 time (2026-12-01T10:00:00Z) nor a duration (24h, 7d)",
            param_hint=f"'{option}'",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


async def _tenant_ids(c: Container, name: str | None) -> tuple[list[str] | None, dict[str, str]]:
    """The tenant ids to look at (None: all) and every known tenant's name by id."""
    names = {t.id: t.name for t in await c.tenants.list()}
    if name is None:
        return None, names
    for tenant_id, tenant_name in names.items():
        if tenant_name == name:
            return [tenant_id], names
    raise typer.BadParameter(f"no tenant named {name!r}", param_hint="'--tenant'")


def _finding_json(finding: Finding | None) -> dict[str, Any] | None:
    if finding is None:
        return None
    return {
        "seq": finding.seq,
        "problem": finding.breach.name.lower(),
        "message": finding.breach.value,
        "detail": finding.detail,
    }


def _report(reports: list[ChainReport], names: dict[str, str], as_json: bool, source: str) -> None:
    intact = all(r.finding is None for r in reports)
    if as_json:
        chains = [
            {
                "tenant": r.tenant_id,
                "tenant_name": names.get(r.tenant_id),
                "records": r.records,
                "checkpoints": r.checkpoints,
                "broken": _finding_json(r.finding),
            }
            for r in reports
        ]
        typer.echo(json.dumps({"intact": intact, "source": source, "chains": chains}, ensure_ascii=False))
    else:
        if not reports:
            typer.echo("no audit records")
        for r in reports:
            label = names.get(r.tenant_id, r.tenant_id)
            if r.finding is None:
                typer.echo(f"tenant {label}: intact ({r.records} records, {r.checkpoints} checkpoints)")
            else:
                typer.echo(f"tenant {label}: BROKEN at {r.finding.describe()}")
    if not intact:
        sys.exit(1)


@audit_app.command("verify")
def audit_verify(
    tenant: AuditTenantOpt = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="Verify an `audit export` file instead of the database.")
    ] = None,
    key: Annotated[
        Path | None,
        typer.Option("--key", help="With --file: the audit public key (`audit key` output) to check checkpoints."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Recompute every chain and checkpoint signature; name the first broken record of each tenant.

    Exit 0 when intact, 1 when broken, 2 on a usage error."""
    if file is not None:
        if tenant is not None:
            raise typer.BadParameter("give --tenant or --file, not both", param_hint="'--tenant'")
        keys = _read_key(key) if key is not None else None
        reports = _verify_file(file, keys)
        _report(reports, {}, as_json, str(file))
        return
    if key is not None:
        raise typer.BadParameter("only with --file", param_hint="'--key'")

    async def body(c: Container) -> tuple[list[ChainReport], dict[str, str]]:
        tenant_ids, names = await _tenant_ids(c, tenant)
        return await c.audit.verify(tenant_ids), names

    reports, names = run(body)
    _report(reports, names, as_json, "database")


def _read_key(path: Path) -> VerificationKeySet:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        jwks = data["keys"] if isinstance(data, dict) and "keys" in data else [data]
        keys = VerificationKeySet(jwks)
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc.strerror}", param_hint="'--key'") from None
    except (ValueError, TypeError, KeyError):
        raise typer.BadParameter(f"{path} holds no JWK or JWK set", param_hint="'--key'") from None
    if not len(keys):
        raise typer.BadParameter(f"{path} holds no usable public key", param_hint="'--key'")
    return keys


def _record_of(line: dict[str, Any]) -> AuditRecord:
    """The record an export line holds; ValueError when it is not exactly one."""
    if set(line) != _LINE_KEYS:
        raise ValueError("members differ from an audit record's")
    time_text = line["time"]
    moment = datetime.strptime(time_text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    micros = (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    if format_time(micros) != time_text or not isinstance(line["metadata"], dict):
        raise ValueError("not in the canonical form")
    return AuditRecord(
        tenant_id=line["tenant"],
        seq=int(line["seq"]),
        event_id=line["id"],
        type=line["type"],
        time_us=micros,
        principal=line["principal"],
        principal_type=line["principal_type"],
        client_id=line["client_id"],
        trace_id=line["trace_id"],
        origin=line["origin"],
        metadata=line["metadata"],
        prev_hash=line["prev_hash"],
        hash=line["hash"],
    )


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        with path.open(encoding="utf-8") as handle:
            yield from enumerate(handle, start=1)
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc.strerror}", param_hint="'--file'") from None
    except UnicodeDecodeError:
        raise typer.BadParameter(f"{path} is not UTF-8 text", param_hint="'--file'") from None


def _verify_file(path: Path, keys: VerificationKeySet | None) -> list[ChainReport]:
    """Each tenant's records in the export must chain from its first record on (the first one's prev_hash is
    taken on trust: an export may start mid-chain); a checkpoint line is checked against `keys` when given."""
    checkers: dict[str, ChainChecker] = {}
    checkpoints: dict[str, int] = {}
    for number, text in _lines(path):
        if not text.strip():
            continue
        try:
            line = json.loads(text)
            if not isinstance(line, dict):
                raise ValueError("not a JSON object")
            if "checkpoint" in line:
                _check_checkpoint_line(line["checkpoint"], keys, checkers, checkpoints)
                continue
            record = _record_of(line)
        except (ValueError, TypeError, KeyError) as exc:
            fail(f"{path}: line {number} is not an audit record ({exc})")
        checker = checkers.get(record.tenant_id)
        if checker is None:
            checker = checkers[record.tenant_id] = ChainChecker(
                record.tenant_id, {}, start_seq=record.seq - 1, start_hash=None
            )
        checker.feed(record)
    return [
        ChainReport(tenant_id, checker.count, checkpoints.get(tenant_id, 0), checker.finding)
        for tenant_id, checker in sorted(checkers.items())
    ]


def _check_checkpoint_line(
    entry: Any, keys: VerificationKeySet | None, checkers: dict[str, ChainChecker], counts: dict[str, int]
) -> None:
    """A checkpoint line follows the records it covers: its hash must be that of the record at its seq."""
    tenant_id, seq, hash_, jws = entry["tenant"], int(entry["seq"]), entry["hash"], entry["jws"]
    checker = checkers.get(tenant_id)
    if checker is None or checker.finding is not None:
        return
    counts[tenant_id] = counts.get(tenant_id, 0) + 1
    problem = checkpoint_problem(jws, tenant_id, seq, hash_, keys) if keys is not None else None
    if problem is not None:
        checker.finding = Finding(tenant_id, seq, Breach.CHECKPOINT_SIGNATURE, problem)
    elif seq == checker.last_seq and hash_ != checker.last_hash:
        checker.finding = Finding(tenant_id, seq, Breach.CHECKPOINT_MISMATCH)


@audit_app.command("export")
def audit_export(
    since: Annotated[str, typer.Option("--since", help="From this time: ISO 8601, or a duration ago (24h, 7d).")],
    until: Annotated[str | None, typer.Option("--until", help="Before this time (same forms; default: now).")] = None,
    tenant: AuditTenantOpt = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file (default: stdout).")] = None,
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress",
            help=f"Count exported records on stderr every {PROGRESS_EVERY:,} (default: when stderr is a terminal).",
        ),
    ] = None,
) -> None:
    """Write audit records as JSON Lines (one record per line, with seq, prev_hash and hash), by tenant then
    seq, each tenant's checkpoints after the records they cover; check it offline with `audit verify --file`."""
    import time

    now = time.time()
    start = parse_when(since, now, "--since")
    end = parse_when(until, now, "--until") if until is not None else None
    if end is not None and end <= start:
        raise typer.BadParameter("must be later than --since", param_hint="'--until'")
    show = progress if progress is not None else sys.stderr.isatty()

    async def body(c: Container) -> int:
        tenant_ids, _ = await _tenant_ids(c, tenant)
        sink: IO[str]
        if output is None:
            sink = sys.stdout
        else:
            try:
                sink = output.open("w", encoding="utf-8")
            except OSError as exc:
                fail(f"cannot write {output}: {exc.strerror}")
        try:
            return await _export(c, sink, start, end, tenant_ids[0] if tenant_ids else None, show)
        finally:
            if output is not None:
                sink.close()

    count = run(body)
    if show or output is not None:
        typer.echo(f"exported {count} records", err=True)


async def _export(
    c: Container, sink: IO[str], start: float, end: float | None, tenant_id: str | None, show: bool
) -> int:
    count = 0
    pending: list[Any] = []  # the current tenant's checkpoints not yet written
    current: str | None = None
    last_seq = 0

    async def flush(upto: int | None) -> None:
        while pending and (upto is None or pending[0].seq <= upto):
            cp = pending.pop(0)
            if cp.seq <= last_seq:
                entry = {
                    "tenant": cp.tenant_id,
                    "seq": cp.seq,
                    "hash": cp.hash,
                    "time": format_time(round(cp.at * 1e6)),
                    "jws": cp.jws,
                }
                sink.write(json.dumps({"checkpoint": entry}, ensure_ascii=False, separators=(",", ":")) + "\n")

    async for record in c.audit.export(since=start, until=end, tenant_id=tenant_id):
        if record.tenant_id != current:
            await flush(None)
            current = record.tenant_id
            first = record.seq
            pending = [cp for cp in await c.audit.checkpoints(current) if cp.seq >= first]
        sink.write(json.dumps(record.as_dict(), ensure_ascii=False, separators=(",", ":")) + "\n")
        last_seq = record.seq
        await flush(record.seq)
        count += 1
        if show and count % PROGRESS_EVERY == 0:
            typer.echo(f"exported {count} records...", err=True)
    await flush(None)
    return count


@audit_app.command("seal")
def audit_seal(as_json: JsonOpt = False) -> None:
    """Sign the head of every chain that grew since its last checkpoint (the maintenance pass does this
    every audit_seal_interval seconds)."""

    async def body(c: Container) -> list[dict[str, Any]]:
        names = {t.id: t.name for t in await c.tenants.list()}
        made = await c.audit.seal()
        return [
            {"tenant": cp.tenant_id, "tenant_name": names.get(cp.tenant_id), "seq": cp.seq, "hash": cp.hash}
            for cp in made
        ]

    made = run(body)
    if as_json:
        typer.echo(json.dumps({"checkpoints": made}, ensure_ascii=False))
        return
    if not made:
        typer.echo("nothing to seal: no chain grew since its last checkpoint")
    for cp in made:
        typer.echo(f"sealed tenant {cp['tenant_name'] or cp['tenant']} at seq {cp['seq']} ({cp['hash']})")


@audit_app.command("key")
def audit_key() -> None:
    """Print the audit public key(s) as a JWK set (made on first use): what a third party needs to check
    checkpoints (`audit verify --file FILE --key KEY`)."""

    async def body(c: Container) -> list[dict[str, str]]:
        return await c.audit.public_keys()

    typer.echo(json.dumps({"keys": run(body)}, indent=2))
