"""Run the real `lukhas-id` command in a process of its own against a private var directory.

Each run is a new process, forked from a server that has imported the CLI once
(tests/support/forkserver.py); with LUKHAS_ID_TEST_CLI_SUBPROCESS=1 each run starts a new Python instead.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from tests.support.forkserver import ForkServer

FORK_SERVER = ForkServer()
atexit.register(FORK_SERVER.close)
FRESH_PYTHON = os.environ.get("LUKHAS_ID_TEST_CLI_SUBPROCESS") == "1"

Run = Callable[..., "subprocess.CompletedProcess[str]"]


def make_cli(var_dir: Path, *, never_printed: Iterable[str] = ()) -> Run:
    """A runner: `run(*args, ok=True, extra=None, stdin=None)`.

    `ok=False` expects a non-zero exit whose stderr ends in exactly one `error:` line and has no
    traceback; `ok=None` checks nothing of the exit (the caller does); `never_printed` values must appear
    in neither stdout nor stderr of any run.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUKHAS_ID_")}
    env["LUKHAS_ID_VAR_DIR"] = str(var_dir)
    secrets = tuple(never_printed)

    def run(*args: str, ok: bool | None = True, extra: dict[str, str] | None = None, stdin: str | None = None) -> Any:
        run_env = {**env, **(extra or {})}
        text_in = stdin if stdin is not None else ""
        # No controlling terminal (a session of its own): a hidden prompt reads standard input, not /dev/tty.
        if FRESH_PYTHON:
            proc = subprocess.run(
                [sys.executable, "-m", "lukhas_id", *args],
                env=run_env,
                capture_output=True,
                text=True,
                timeout=60,
                input=text_in,
                start_new_session=True,
            )
        else:
            proc = FORK_SERVER.run(args, env=run_env, stdin=text_in, timeout=60)
        for secret in secrets:
            assert secret not in proc.stdout and secret not in proc.stderr
        if ok:
            assert proc.returncode == 0, proc.stderr
        elif ok is False:
            assert proc.returncode != 0, proc.stdout
            errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
            assert len(errors) == 1, proc.stderr
            assert proc.stderr.strip().splitlines()[-1] == errors[0]
            assert "Traceback" not in proc.stderr
        return proc

    return run
