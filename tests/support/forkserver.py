"""`python -m lukhas_id ARGS` for the CLI tests, without paying Python's start and imports each time.

A server process imports the CLI once; each run is a child forked from it that becomes what a new
`python -m lukhas_id` process would be: its own session (no controlling terminal), the caller's pipes as
standard input, output and error, the caller's environment and working directory, `sys.argv` as `-m`
sets it, `lukhas_id/__main__.py` run afresh, the exit status of `sys.exit` (a traceback and 1 for an
uncaught exception) and the interpreter's exit handlers at the end. What the CLI does is unchanged;
only the import of its modules, identical in every run, is done once.

This file is both the client (`ForkServer`, used by tests/support/cli.py) and, run as a script, the
server. The server has no threads, so forking it is safe. Requests are served one at a time.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path

_HEADER = struct.Struct("!I")
_MODULE = "lukhas_id"


def _send(sock: socket.socket, message: object, fds: Sequence[int] = ()) -> None:
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(sock, [_HEADER.pack(len(data)) + data], list(fds))
    else:
        sock.sendall(_HEADER.pack(len(data)) + data)


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError("the fork server went away")
        data += chunk
    return data


def _recv(sock: socket.socket, *, with_fds: int = 0) -> tuple[object, list[int]]:
    fds: list[int] = []
    if with_fds:
        head, fds, _, _ = socket.recv_fds(sock, _HEADER.size, with_fds)
        if not head:
            raise EOFError("the fork server went away")
        head += _recv_exact(sock, _HEADER.size - len(head))
    else:
        head = _recv_exact(sock, _HEADER.size)
    (size,) = _HEADER.unpack(head)
    return json.loads(_recv_exact(sock, size)), fds


# --- the server ------------------------------------------------------------------------------------


def _child(request: Mapping[str, object], fds: Sequence[int]) -> None:
    """In the forked child: become `python -m lukhas_id ARGS` and exit; never returns."""
    code = 1
    try:
        os.setsid()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(str(request["cwd"]))
        os.environ.clear()
        os.environ.update(request["env"])  # type: ignore[arg-type]
        sys.path[0] = os.getcwd()  # as -m sets it
        sys.argv = ["-m", *request["argv"]]  # type: ignore[misc]
        import runpy

        try:
            runpy.run_module(_MODULE, run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:
            if exc.code is None:
                code = 0
            elif isinstance(exc.code, int):
                code = exc.code
            else:
                print(exc.code, file=sys.stderr)
                code = 1
        except BaseException:
            traceback.print_exc()
            code = 1
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
    finally:
        os._exit(code)


def serve(fd: int) -> None:
    sock = socket.socket(fileno=fd)
    import lukhas_id.cli  # noqa: F401  (the point: imported once, here)

    while True:
        try:
            request, fds = _recv(sock, with_fds=3)
        except EOFError:
            return
        pid = os.fork()
        if pid == 0:
            sock.close()
            _child(request, fds)  # type: ignore[arg-type]
        for fd in fds:
            os.close(fd)
        _send(sock, {"pid": pid})
        _, status = os.waitpid(pid, 0)
        _send(sock, {"returncode": os.waitstatus_to_exitcode(status)})


# --- the client ------------------------------------------------------------------------------------


class ForkServer:
    """Runs `python -m lukhas_id` through a server started on first use (one per test session)."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    def _start(self, env: Mapping[str, str]) -> socket.socket:
        if self._sock is not None and self._proc is not None and self._proc.poll() is None:
            return self._sock
        ours, theirs = socket.socketpair()
        self._proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            env={k: v for k, v in env.items() if not k.startswith("LUKHAS_ID_")},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        theirs.close()
        self._sock = ours
        return ours

    def run(
        self, argv: Sequence[str], *, env: Mapping[str, str], stdin: str, timeout: float
    ) -> subprocess.CompletedProcess[str]:
        """As `subprocess.run([python, -m, lukhas_id, *argv], env=env, input=stdin, capture_output=True,
        text=True, timeout=timeout, start_new_session=True)`."""
        with self._lock:
            sock = self._start(os.environ)
            in_r, in_w = os.pipe()
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            try:
                _send(sock, {"argv": list(argv), "env": dict(env), "cwd": os.getcwd()}, [in_r, out_w, err_w])
            finally:
                for fd in (in_r, out_w, err_w):
                    os.close(fd)
            output: dict[int, bytes] = {}

            def read(fd: int) -> None:
                with open(fd, "rb") as stream:
                    output[fd] = stream.read()

            readers = [threading.Thread(target=read, args=(fd,), daemon=True) for fd in (out_r, err_r)]
            for reader in readers:
                reader.start()
            with open(in_w, "wb") as feed:
                try:
                    feed.write(stdin.encode())
                except BrokenPipeError:
                    pass
            sock.settimeout(timeout)
            started, _ = _recv(sock)
            try:
                done, _ = _recv(sock)
            except TimeoutError:
                os.kill(started["pid"], signal.SIGKILL)  # type: ignore[index]
                _recv(sock)
                raise subprocess.TimeoutExpired([_MODULE, *argv], timeout) from None
            finally:
                sock.settimeout(None)
            for reader in readers:
                reader.join(timeout)

            def text(data: bytes) -> str:
                return data.decode().replace("\r\n", "\n").replace("\r", "\n")

            return subprocess.CompletedProcess(
                [sys.executable, "-m", _MODULE, *argv],
                done["returncode"],  # type: ignore[index]
                text(output.get(out_r, b"")),
                text(output.get(err_r, b"")),
            )

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        if self._proc is not None:
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
