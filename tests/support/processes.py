"""Find processes by their command line (Linux /proc), to prove no llama.cpp server is left behind."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path


def _processes() -> Iterator[tuple[int, list[bytes], str]]:
    """(pid, argv, state letter) of every process that can be read."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        yield int(proc.name), argv, state


def pids_with(*needles: str) -> list[int]:
    """PIDs of live processes whose command line holds every one of ``needles`` as an argument."""
    wanted = [needle.encode() for needle in needles]
    return [pid for pid, argv, state in _processes() if state != "Z" and all(n in argv for n in wanted)]


def local_servers_of(parent: int, serving: str | None = None) -> list[int]:
    """PIDs of live ``workbench.local.serve`` processes started by ``parent`` (and serving that model file)."""
    found = []
    for pid, argv, state in _processes():
        if state == "Z" or b"workbench.local.serve" not in argv or b"--parent" not in argv:
            continue
        if serving is not None and serving.encode() not in argv:
            continue
        if argv[argv.index(b"--parent") + 1] == str(parent).encode():
            found.append(pid)
    return found


def wait_gone(parent: int, timeout: float = 10.0) -> list[int]:
    """Wait for ``parent``'s servers to end; what is still running after ``timeout``."""
    deadline = time.monotonic() + timeout
    while (left := local_servers_of(parent)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (not gone, not a zombie)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
