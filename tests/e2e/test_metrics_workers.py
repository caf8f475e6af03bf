"""GET /metrics with two worker processes: whichever worker answers, the counters are complete (every
worker's requests) and never go back from one scrape to the next (prometheus-client multiprocess mode,
set up by `lukhas-id serve`)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.support.servers import Deployment, start_server, stop

pytestmark = pytest.mark.e2e

ISSUED = re.compile(r'^identity_oidc_token_issuance_total\{grant="client_credentials",result="issued"\} (\S+)$', re.M)
REFUSED = re.compile(r'^identity_oidc_token_issuance_total\{grant="other",result="invalid_client"\} (\S+)$', re.M)

CPU = re.compile(r"^process_cpu_seconds_total (\S+)$", re.M)
RSS = re.compile(r"^process_resident_memory_bytes (\S+)$", re.M)
FDS = re.compile(r"^process_open_fds (\S+)$", re.M)


def counter(pattern: re.Pattern[str], text: str) -> float:
    found = pattern.search(text)
    return float(found.group(1)) if found else 0.0


def test_metrics_add_up_every_worker(deployment: Deployment, tmp_path: Path) -> None:
    if "LUKHAS_ID_DATABASE_URL" in deployment.env:
        deployment.cli("db", "upgrade")
    creds = deployment.create_client()
    server = start_server(deployment, tmp_path, workers=2)
    try:
        seen: list[float] = []
        requests = 0
        for round_ in range(12):
            # A new connection per request, so that the two workers share the requests and the scrapes.
            for _ in range(5):
                resp = httpx.post(
                    f"{server.url}/oauth2/token",
                    data={"grant_type": "client_credentials", "scope": "api:read"},
                    auth=(creds["client_id"], creds["client_secret"]),
                )
                assert resp.status_code == 200, resp.text
                requests += 1
            for _ in range(3):
                scrape = httpx.get(f"{server.url}/metrics")
                assert scrape.status_code == 200
                seen.append(counter(ISSUED, scrape.text))
                assert seen[-1] == requests, f"round {round_}: a scrape saw {seen[-1]} of {requests}"
        assert seen == sorted(seen)  # monotonic
        form = {"grant_type": "client_credentials"}
        wrong = httpx.post(f"{server.url}/oauth2/token", data=form, auth=("nobody", "x"))
        assert wrong.status_code == 401
        text = httpx.get(f"{server.url}/metrics").text
        assert counter(REFUSED, text) == 1
        # The process collector adds up both workers: one series each, memory above one worker's alone.
        assert len(re.findall(r"^process_resident_memory_bytes ", text, re.M)) == 1
        assert counter(CPU, text) > 0 and counter(FDS, text) >= 2 * 3
        assert counter(RSS, text) > 2 * 20_000_000
    finally:
        stop(server)
