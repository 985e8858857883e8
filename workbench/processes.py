"""Which process does something, and whether it still exists (stdlib only: every floor may use it).

An *owner* names a process as ``host:pid[:tag]``. A process on this host whose pid no longer
exists is dead at once; a process on another host is judged by its heartbeat or lease instead.
"""

from __future__ import annotations

import os
import socket
import uuid

HOST = socket.gethostname()


def worker_id() -> str:
    """``host:pid`` of this process (what a run records as its worker)."""
    return f"{HOST}:{os.getpid()}"


def new_owner() -> str:
    """A unique owner for this process's leases (``host:pid:tag``)."""
    return f"{worker_id()}:{uuid.uuid4().hex[:8]}"


def owner_dead(owner: str) -> bool:
    """True when ``owner`` (host:pid[:...]) names a process on this host that no longer exists."""
    host, _, rest = owner.partition(":")
    pid_text = rest.split(":", 1)[0]
    if host != HOST or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
