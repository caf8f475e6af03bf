"""A real Prometheus (Debian `prometheus`, installed by `make test` as root like chromium) checks and unit-tests
deploy/prometheus/alerts.yml, then scrapes a 2-worker ΛiD on loopback and evaluates the rules."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.ci import IN_CI
from tests.support.paths import REPO
from tests.support.servers import Deployment, free_port, start_server, stop

pytestmark = pytest.mark.e2e

RULES = REPO / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = REPO / "deploy" / "prometheus" / "alerts_test.yml"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"no {name} (`make test` installs Debian prometheus as root)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def test_alert_rules_check_and_their_unit_tests_pass() -> None:
    promtool = _tool("promtool")
    checked = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run([promtool, "test", "rules", str(RULE_TESTS)], capture_output=True, text=True, timeout=120)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def _api(base: str, path: str, **params: str) -> Any:
    resp = httpx.get(f"{base}/api/v1/{path}", params=params, timeout=5)
    resp.raise_for_status()
    return resp.json()["data"]


def test_prometheus_scrapes_two_workers_and_evaluates_the_rules(deployment: Deployment, tmp_path: Path) -> None:
    prometheus = _tool("prometheus")
    if "LUKHAS_ID_DATABASE_URL" in deployment.env:
        deployment.cli("db", "upgrade")
    creds = deployment.create_client()
    server = start_server(deployment, tmp_path, workers=2)
    port = free_port()
    config = tmp_path / "prometheus.yml"
    target = server.url.removeprefix("http://")
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"rule_files:\n  - {RULES}\n"
        f"scrape_configs:\n  - job_name: lukhas-id\n    static_configs:\n      - targets: ['{target}']\n"
    )
    log = (tmp_path / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}"]
        + [f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(10):
            httpx.post(
                f"{server.url}/oauth2/token",
                data={"grant_type": "client_credentials", "scope": "api:read"},
                auth=(creds["client_id"], creds["client_secret"]),
            ).raise_for_status()
        deadline = time.monotonic() + 60
        issued = rules = None
        while time.monotonic() < deadline:
            try:
                result = _api(base, "query", query='sum(identity_oidc_token_issuance_total{result="issued"})')
                issued = float(result["result"][0]["value"][1]) if result["result"] else None
                groups = _api(base, "rules")["groups"]
                rules = [rule for group in groups for rule in group["rules"]]
                evaluated = rules and all(rule["lastEvaluation"] > "2000" for rule in rules)
                if issued == 10 and evaluated:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        assert issued == 10, f"Prometheus saw {issued} issued tokens of 10 (both workers' counts)"
        # Every rule of the file, however many it holds (13 at the time of writing).
        declared = sum(1 for line in RULES.read_text().splitlines() if line.strip().startswith("- alert:"))
        assert declared >= 13 and rules is not None and len(rules) == declared
        assert all(rule["health"] == "ok" for rule in rules), [(r["name"], r.get("lastError")) for r in rules]
        firing = [alert["labels"]["alertname"] for alert in _api(base, "alerts")["alerts"]]
        assert firing == [], firing  # a healthy ΛiD fires nothing
        up = _api(base, "query", query='up{job="lukhas-id"}')["result"]
        assert [sample["value"][1] for sample in up] == ["1"]
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
        stop(server)
