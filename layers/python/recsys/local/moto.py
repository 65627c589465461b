"""moto in its own process, for the local stack (see :mod:`recsys.local.moto_server`)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

from recsys.core.errors import StackStartError

__all__ = ["MotoProcess", "free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class MotoProcess:
    """moto's server in a child process bound to 127.0.0.1.

    Not ``ThreadedMotoServer``: in the stack's own process moto's request handling competes
    for the GIL with the handlers and pollers; in its own process it uses the other core
    (docs/BENCHMARKS.md, "local stack").
    """

    def __init__(self) -> None:
        self.port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60.0) -> None:
        """Start the server; returns once it accepts connections."""
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "recsys.local.moto_server", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise StackStartError(f"moto server exited with {self._proc.returncode}")
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        self.stop()
        raise StackStartError(f"moto server did not listen on 127.0.0.1:{self.port}")

    def get_host_and_port(self) -> tuple[str, int]:
        """Where the server listens (same call as ThreadedMotoServer)."""
        return "127.0.0.1", self.port

    def stop(self) -> None:
        """Terminate the server and reap it."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
