"""deploy/grafana/identity-dashboard.json queries only metrics that ΛiD exports (both deployments)."""

from __future__ import annotations

import json
import re

from tests.support.harness import Harness
from tests.support.paths import REPO

DASHBOARD = REPO / "deploy" / "grafana" / "identity-dashboard.json"
# A metric name in PromQL: a name not followed by "(" (functions) and not a label or keyword.
METRIC = re.compile(r"\b((?:identity|http)_[a-z0-9_]+)\b")
SUFFIXES = ("_bucket", "_count", "_sum", "_total")


def family(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


async def test_every_metric_the_dashboard_queries_is_exported(h: Harness) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    queried = {
        family(name)
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in METRIC.findall(target["expr"])
    }
    assert len(queried) >= 12
    exported = set(re.findall(r"^# TYPE (\S+) ", (await h.http.get("/metrics")).text, re.M))
    exported = {family(name) for name in exported}
    assert queried <= exported, sorted(queried - exported)
