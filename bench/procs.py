"""Background server processes: started in their own session, always stopped (SIGTERM, then SIGKILL)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType

STOP_TIMEOUT = 10.0


class BenchError(Exception):
    """A failure that ends the benchmark with a one-line message."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Proc:
    """A child process in a new session (so Ctrl-C in the terminal reaches only us, and we stop it).

    Its process group id is its pid; stopping it sends SIGTERM to the process (the servers stop their
    own workers), waits, then SIGKILLs whatever is left of its group.
    """

    def __init__(self, name: str, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, log: Path) -> None:
        self.name = name
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log_fh = log.open("wb")
        self.popen = subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log_fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        pgid = self.popen.pid  # start_new_session: the group id is the leader's pid
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.popen.wait(5)
        # Workers that outlive their parent (or ignore SIGTERM): give them a moment, then SIGKILL the group.
        deadline = time.monotonic() + 3
        while _group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _group_alive(pgid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
        self._log_fh.close()


def _group_alive(pgid: int) -> bool:
    """Whether a live (not zombie) process is left in the group; /proc on Linux, else a signal probe."""
    proc = Path("/proc")
    if proc.is_dir():
        for entry in proc.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            # fields[0] is the state, fields[2] the process group id
            if fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
                return True
        return False
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def http_status(url: str, timeout: float = 2.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            status: int = resp.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def wait_ready(
    proc: Proc,
    url: str,
    timeout: float,
    *,
    progress: Callable[[float], None] | None = None,
    progress_every: float = 15.0,
) -> None:
    """Wait until GET url answers 200; fail at once if the process exits."""
    start = time.monotonic()
    next_note = start + progress_every
    while True:
        if not proc.alive():
            raise BenchError(f"{proc.name} exited with status {proc.popen.returncode}:\n{proc.tail()}")
        if http_status(url) == 200:
            return
        now = time.monotonic()
        if now - start > timeout:
            raise BenchError(f"{proc.name} not ready at {url} after {timeout:.0f} s:\n{proc.tail()}")
        if progress is not None and now >= next_note:
            progress(now - start)
            next_note = now + progress_every
        time.sleep(0.2)


class Interrupted(BaseException):
    """SIGTERM / SIGHUP: unwinds like Ctrl-C so that every `finally` stops its servers."""


def install_signal_handlers() -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise Interrupted(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)
    # A shell starts background jobs with SIGINT ignored; Ctrl-C / SIGINT must still unwind.
    signal.signal(signal.SIGINT, signal.default_int_handler)
