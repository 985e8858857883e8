"""A local llama.cpp server that dies by a signal is named as a crash, with the fix, not "cannot connect".

A llama.cpp compiled natively on a CPU that advertises AVX-512 or AMX can crash in its first
``llama_decode`` (SIGSEGV, or SIGILL on an older processor). The stand-in server here answers
``/v1/models`` like llama.cpp's and kills itself with that signal on the first chat request (or at
start-up), so these tests need neither llama.cpp nor its model.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import PROMPT_YAML, SAMPLES_CSV
from workbench import local as local_mod
from workbench.config import Settings
from workbench.datasets import parse_samples
from workbench.errors import ModelUnavailableError
from workbench.local import REINSTALL_COMMAND, LocalModel
from workbench.local.server import LlamaServer, LocalServers
from workbench.promptfile import parse_prompt
from workbench.service import Workbench

CRASHING_SERVER = """
import json, os, signal, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
port, signum, when = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
if when == "start":
    os.kill(os.getpid(), signum)
class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args): pass
    def do_GET(self):
        body = json.dumps({"object": "list", "data": [{"id": "crashy", "object": "model"}]}).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)  # as llama.cpp does in its first llama_decode
HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


@pytest.fixture
def crashing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """``crashing(signum, when)``: the workbench's llama.cpp servers are the stand-in above."""
    gguf = tmp_path / "crashy.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setattr(local_mod, "llama_server_installed", lambda: True)

    def use(signum: int, when: str = "request") -> Path:
        def command(self: LlamaServer) -> list[str]:
            return [sys.executable, "-c", CRASHING_SERVER, str(self.port), str(int(signum)), when]

        monkeypatch.setattr(LlamaServer, "command", command)
        return gguf

    return use


@pytest.mark.parametrize("signum", [signal.SIGSEGV, signal.SIGILL])
def test_a_server_that_crashes_while_answering_stops_its_cells_with_the_fix(crashing, tmp_path: Path, signum) -> None:
    gguf = crashing(signum)
    registry = LocalServers()
    wb = Workbench.open(Settings(database_url=f"sqlite:///{tmp_path / 'w.db'}", local_gguf=gguf, timeout=10.0))
    wb.servers = registry
    try:
        plan = wb.plan([parse_prompt(PROMPT_YAML)], parse_samples(SAMPLES_CSV.encode(), "s.csv"), ["crashy"], [0.0])
        started = time.monotonic()
        outcome = wb.execute(wb.start(plan), plan, concurrency=2)
        assert time.monotonic() - started < 30
    finally:
        registry.stop_all()
    assert outcome.status == "failed" and outcome.new_calls == 0
    error = str(outcome.error)
    assert f"crashed ({signum.name}" in error and REINSTALL_COMMAND in error, error
    assert "cannot connect" not in error and "\n" not in error
    (cell,) = wb.summary(outcome.run_id)["cells"]
    assert cell["errors"] == 6  # every item says why; none was paid for


def test_a_server_that_crashes_at_start_says_so(crashing) -> None:
    gguf = crashing(signal.SIGILL, when="start")
    registry = LocalServers()
    with pytest.raises(ModelUnavailableError, match=r"crashed \(SIGILL, illegal instruction\)") as caught:
        registry.server(LocalModel("crashy", gguf=gguf))
    assert REINSTALL_COMMAND in str(caught.value)
    assert registry.running() == []


def test_a_server_stopped_on_purpose_is_no_crash(crashing) -> None:
    gguf = crashing(signal.SIGSEGV)
    registry = LocalServers()
    try:
        server = registry.server(LocalModel("crashy", gguf=gguf))
        assert server.process is not None
        server.process.send_signal(signal.SIGKILL)
        assert server.crash(wait=5) is None  # the next call starts it again, as before
    finally:
        registry.stop_all()
