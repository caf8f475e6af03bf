"""Traces from `lukhas-id serve` with two worker processes: each worker sets up its own tracer after the
fork (in the application's lifespan), exports to the collector, and flushes at shutdown."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.otlp import receiving
from tests.support.servers import Deployment, start_server, stop

pytestmark = pytest.mark.e2e


def test_every_worker_exports_its_requests_traces(deployment: Deployment, tmp_path: Path) -> None:
    if "LUKHAS_ID_DATABASE_URL" in deployment.env:
        deployment.cli("db", "upgrade")
    creds = deployment.create_client()
    with receiving() as receiver:
        deployment.env["LUKHAS_ID_OTLP_ENDPOINT"] = receiver.url
        server = start_server(deployment, tmp_path, workers=2)
        traces: list[str] = []
        try:
            for _ in range(12):  # a new connection per request, so that both workers get some
                resp = httpx.post(
                    f"{server.url}/oauth2/token",
                    data={"grant_type": "client_credentials", "scope": "api:read"},
                    auth=(creds["client_id"], creds["client_secret"]),
                )
                assert resp.status_code == 200, resp.text
                assert resp.headers["traceparent"].split("-")[1] == resp.headers["x-trace-id"]
                traces.append(resp.headers["x-trace-id"])
        finally:
            stop(server)
        spans = receiver.wait_for(2 * len(traces))
    servers = {s.trace_id: s for s in spans if s.name == "POST /oauth2/token"}
    assert set(traces) <= set(servers), "every request's server span was exported (flushed at shutdown)"
    for trace in traces:
        [use_case] = [s for s in spans if s.trace_id == trace and s.name == "oauth.token"]
        assert use_case.parent_id == servers[trace].span_id
    pids = {s.resource["process.pid"] for s in spans}
    assert server.proc.pid not in pids, "the workers trace, not the process that started them"
    assert len({s.resource["service.instance.id"] for s in spans}) == len(pids)
