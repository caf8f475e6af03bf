"""The process collector: of this process in one-process mode; added up over the live workers whose metric files
are in the directory in multiprocess mode (lukhas_id/metrics.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import ProcessCollector

from lukhas_id.metrics import Metrics, WorkersProcessCollector, worker_pids

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="no /proc: no process metrics")


def test_one_process_exports_its_own_process_metrics() -> None:
    text = Metrics().render().decode()
    assert "\nprocess_cpu_seconds_total " in text and "\nprocess_resident_memory_bytes " in text


def test_workers_are_the_live_pids_of_the_files(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for name in (f"counter_{os.getpid()}.db", f"histogram_{os.getpid()}.db", f"gauge_livesum_{dead.pid}.db", "x.db"):
        (tmp_path / name).write_bytes(b"")
    assert worker_pids(str(tmp_path)) == [os.getpid()]


def one(pid: int) -> dict[str, float]:
    return {m.name: m.samples[0].value for m in ProcessCollector(pid=lambda: str(pid), registry=None).collect()}


def test_the_workers_process_metrics_add_up(tmp_path: Path) -> None:
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / f"counter_{os.getpid()}.db").write_bytes(b"")
        (tmp_path / f"counter_{other.pid}.db").write_bytes(b"")
        merged = {m.name: m.samples[0].value for m in WorkersProcessCollector(str(tmp_path)).collect()}
        mine, theirs = one(os.getpid()), one(other.pid)
        assert merged["process_open_fds"] == mine["process_open_fds"] + theirs["process_open_fds"]
        both = mine["process_resident_memory_bytes"] + theirs["process_resident_memory_bytes"]
        assert abs(merged["process_resident_memory_bytes"] - both) < 0.05 * both
        assert merged["process_resident_memory_bytes"] > 1.5 * theirs["process_resident_memory_bytes"]
        # The earliest start (this test process started first) and the smallest file limit.
        assert merged["process_start_time_seconds"] == mine["process_start_time_seconds"]
        assert merged["process_max_fds"] == min(mine["process_max_fds"], theirs["process_max_fds"])
        (tmp_path / "empty").mkdir()
        assert list(WorkersProcessCollector(str(tmp_path / "empty")).collect()) == []
    finally:
        other.kill()
        other.wait()
