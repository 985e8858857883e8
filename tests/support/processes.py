"""Find the llama.cpp servers a process started (Linux /proc), to prove none is left behind."""

from __future__ import annotations

import time
from pathlib import Path


def local_servers_of(parent: int, serving: str | None = None) -> list[int]:
    """PIDs of ``workbench.local.serve`` processes started by ``parent`` (alive, not zombies), only
    those whose command line mentions ``serving`` (a model file) when given."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if serving is not None and serving.encode() not in argv:
            continue
        if b"workbench.local.serve" in argv and str(parent).encode() in argv and state != "Z":
            index = argv.index(b"--parent")
            if argv[index + 1] == str(parent).encode():
                found.append(int(proc.name))
    return found


def wait_gone(parent: int, timeout: float = 10.0) -> list[int]:
    """Wait for ``parent``'s servers to end; what is still running after ``timeout``."""
    deadline = time.monotonic() + timeout
    while (left := local_servers_of(parent)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def pids_with(*needles: str) -> list[int]:
    """PIDs of live processes whose command line holds every one of ``needles``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if all(needle.encode() in argv for needle in needles):
            found.append(int(proc.name))
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (not gone, not a zombie)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
