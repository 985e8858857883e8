"""Start, find and stop the llama.cpp servers that answer local models.

Each GGUF file gets one ``llama_cpp.server`` (through :mod:`workbench.local.serve`) on a free
127.0.0.1 port, started on first use and reused until :meth:`LocalServers.stop_all`: the CLI stops
them when its command ends, the Streamlit app keeps them for the server process's life. They also
stop by themselves when the process that started them ends (atexit here, and a watch on the parent
in the server, for a process killed without a chance to clean up).
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from workbench.errors import ModelUnavailableError
from workbench.local import REINSTALL_COMMAND, LocalModel

log = logging.getLogger(__name__)

PACKAGE_HOME = Path(__file__).resolve().parents[2]  # the folder holding the workbench package
CONTEXT_TOKENS = 8192  # SmolLM2's trained context; a long review fits
READY_TIMEOUT_S = 120.0


CRASH_SIGNALS = {
    signal.SIGILL: "illegal instruction",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGBUS: "bus error",
    signal.SIGFPE: "arithmetic fault",
    signal.SIGABRT: "aborted",
}


def crash_message(alias: str, signum: int) -> str:
    """One line: the server for ``alias`` died by signal ``signum``, and how to fix it."""
    name = signal.Signals(signum).name
    what = CRASH_SIGNALS.get(signal.Signals(signum), "killed")
    return (
        f"the llama.cpp server for {alias} crashed ({name}, {what}): llama.cpp was probably compiled for "
        f"another processor (a native build); reinstall it portably with `{REINSTALL_COMMAND}` "
        "(compiles for 4-7 minutes), then run again"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LlamaServer:
    """One llama.cpp server process serving ``gguf`` under the model id ``alias``."""

    gguf: Path
    alias: str
    port: int = 0
    process: subprocess.Popen | None = None
    # llama.cpp answers one request at a time: callers take turns here, so a queued call neither
    # times out nor counts its wait as latency.
    turn: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(1))
    _log: Path | None = None  # the server's output, read when it fails to start
    _ended: int | None = None  # the exit code of a process that had died by itself when it was stopped

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def command(self) -> list[str]:
        threads = str(os.cpu_count() or 1)  # prompt evaluation is most of the work: use every core
        return [
            sys.executable,
            "-m",
            "workbench.local.serve",
            "--parent",
            str(os.getpid()),
            "--",
            "--model",
            str(self.gguf.resolve()),
            "--model_alias",
            self.alias,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            str(CONTEXT_TOKENS),
            "--n_threads",
            threads,
            "--n_threads_batch",
            threads,
            "--interrupt_requests",
            "False",  # a new request must not cut off a streaming one
            "--verbose",
            "False",
        ]

    def start(self, timeout: float = READY_TIMEOUT_S) -> str:
        """Start the server and wait until it answers ``/v1/models``; its base URL."""
        self.port = free_port()
        fd, name = tempfile.mkstemp(prefix="workbench-llama-", suffix=".log")
        self._log = Path(name)
        log.info("starting llama.cpp for %s on port %d", self.alias, self.port)
        try:
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=fd,
                stderr=subprocess.STDOUT,
                cwd=PACKAGE_HOME,  # so `-m workbench.local.serve` imports this workbench, wherever we run
                start_new_session=True,  # a Ctrl-C in the terminal reaches us, and we stop it in order
            )
        finally:
            os.close(fd)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                crashed = self.crash()
                reason = self._last_line() or f"exit code {self.process.returncode}"
                self.stop()
                raise ModelUnavailableError(crashed or f"the llama.cpp server for {self.alias} did not start: {reason}")
            try:
                with urllib.request.urlopen(self.base_url + "/models", timeout=2) as response:
                    if response.status == 200:
                        return self.base_url
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise ModelUnavailableError(f"the llama.cpp server for {self.alias} did not answer within {timeout:g} s")

    def crash(self, wait: float = 0.0) -> str | None:
        """Why the server died, when a crash signal killed it (waiting up to ``wait`` s for it to end), else None.

        A llama.cpp compiled for another processor dies on its first computation with SIGILL, or
        SIGSEGV where the CPU advertises units (AVX-512, AMX) that do not work: say so with the fix,
        rather than "cannot connect". A server stopped on purpose (SIGTERM, SIGKILL) is no crash: the
        next call starts it again.
        """
        process = self.process
        code = self._ended
        if process is not None:
            try:
                code = process.wait(wait) if wait > 0 else process.poll()
            except subprocess.TimeoutExpired:
                return None
        if code is None or -code not in CRASH_SIGNALS:
            return None
        return crash_message(self.alias, -code)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is not None:
            self._ended = process.returncode  # how it died, for calls still learning that it did
        elif process is not None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if self._log is not None:
            self._log.unlink(missing_ok=True)
            self._log = None

    def _last_line(self) -> str:
        if self._log is None:
            return ""
        lines = self._log.read_text("utf-8", "replace").strip().splitlines()
        return lines[-1][:300] if lines else ""


class LocalServers:
    """The llama.cpp servers this process started, one per GGUF file."""

    def __init__(self) -> None:
        self._servers: dict[Path, LlamaServer] = {}
        self._lock = threading.Lock()

    def server(self, model: LocalModel) -> LlamaServer:
        """The running server for ``model`` (a managed one), started or restarted when needed."""
        with self._lock:
            server = self._servers.get(model.gguf) if model.gguf else None
            if server is None or not server.running:
                model.check()  # only before a start: this runs on every call
                assert model.gguf is not None
                if server is not None:
                    server.stop()  # it died: reap it and drop its output file
                server = LlamaServer(model.gguf, model.name)
                server.start()
                self._servers[model.gguf] = server
            return server

    def running(self) -> list[LlamaServer]:
        with self._lock:
            return [server for server in self._servers.values() if server.running]

    def stop_all(self) -> None:
        with self._lock:
            servers, self._servers = list(self._servers.values()), {}
        for server in servers:
            server.stop()


SERVERS = LocalServers()  # processes are a per-process resource: one registry per process
atexit.register(SERVERS.stop_all)
