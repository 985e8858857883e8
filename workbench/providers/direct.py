"""Plain HTTP/1.1 JSON calls for the sweep's hot path: one keep-alive connection per thread.

Why not the SDK's transport for every call: a sweep is CPU-bound in its client long before the
server is busy. Measured on the sweep benchmark (1,200 calls, concurrency 32, 40 ms server), the
openai SDK with httpx spends about 1.5 ms of CPU per call (request building, the connection pool's
locks, response models) where this spends about 0.1 ms, and importing the SDK costs 0.4-0.5 s of
start-up that a sweep never needs. So :meth:`OpenAIProvider.complete` sends its already exact body
here, and the SDK stays for what it is good at (streaming, the Batch API) and for set-ups this
does not handle.

What it does, as the SDK's transport does:

- a keep-alive connection per thread and server; one the server closed while idle is noticed
  before reuse (its socket is readable) and replaced, and any failed connection is dropped;
- a connect timeout of ``min(10 s, timeout)`` and a **whole-call deadline**: every read of the
  status line, headers and body waits only until ``start + timeout``, so a server dripping one
  byte at a time cannot hold a call longer than the timeout (a per-call ``timeout`` moves it, as
  Flex calls do);
- TLS verified against ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set, else certifi's bundle (what
  httpx uses), else the system's;
- the headers OpenAI reads: ``Authorization: Bearer``, and ``OpenAI-Organization`` /
  ``OpenAI-Project`` from ``OPENAI_ORG_ID`` / ``OPENAI_PROJECT_ID`` as the SDK sends them.

What it does not do, so :func:`usable` sends those set-ups through the SDK instead: proxies
(``HTTPS_PROXY`` and friends apply to the server), base URLs with a query string or credentials,
schemes other than http and https. Redirects are not followed (neither does the SDK for a POST
that would change method): the status is returned and classified like any other.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import select
import socket
import threading
import time
import urllib.request
import zlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

CONNECT_TIMEOUT_S = 10.0


class CallTimeout(Exception):
    """The call did not finish within its deadline."""


class CallBroken(Exception):
    """No connection, or the connection failed before a whole answer arrived."""


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def usable(base_url: str) -> bool:
    """Whether calls to ``base_url`` can go through this client (see the module docstring)."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        return False
    if parts.username or parts.password:
        return False
    proxies = urllib.request.getproxies_environment()
    if proxies.get(parts.scheme) or proxies.get("all"):
        bypass = getattr(urllib.request, "proxy_bypass_environment")  # noqa: B009 (not in typeshed)
        return bool(bypass(parts.hostname, proxies))
    return True


def request_headers(api_key: str) -> dict[str, str]:
    """The headers every call carries (the key, and the organisation / project when set, as the SDK does)."""
    headers = {
        "Authorization": f"Bearer {api_key}",
        "Content-Type": "application/json",
        "Accept": "application/json",
        "User-Agent": "prompt-workbench (python http.client)",
    }
    for variable, header in (("OPENAI_ORG_ID", "OpenAI-Organization"), ("OPENAI_PROJECT_ID", "OpenAI-Project")):
        value = os.environ.get(variable)
        if value:
            headers[header] = value
    return headers


class DirectClient:
    """JSON requests to one server, from any number of threads (each keeps its own connection)."""

    def __init__(self, base_url: str, headers: dict[str, str], timeout: float):
        parts = urlsplit(base_url.rstrip("/"))
        self.https = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.https else 80)
        self.prefix = parts.path.rstrip("/")
        self.headers = headers
        self.timeout = timeout
        self._local = threading.local()
        self._all: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._tls: Any = None

    def post(self, path: str, body: dict[str, Any], timeout: float | None = None) -> Reply:
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
        return self.request("POST", path, data, timeout)

    def get(self, path: str, timeout: float | None = None) -> Reply:
        return self.request("GET", path, None, timeout)

    def request(self, method: str, path: str, data: bytes | None, timeout: float | None = None) -> Reply:
        """One request; ``CallTimeout`` past the deadline, ``CallBroken`` for any connection failure."""
        deadline = time.monotonic() + (timeout or self.timeout)
        conn = self._connection()
        try:
            if conn.sock is not None:
                conn.sock.settimeout(max(0.001, min(CONNECT_TIMEOUT_S, deadline - time.monotonic())))
            conn.response_class = _deadline_response(deadline)
            conn.request(method, self.prefix + path, data, self.headers)
            response = conn.getresponse()
            body = response.read()  # every socket read of it within the deadline (_DeadlineReader)
            if response.will_close:
                self._drop(conn)
            return Reply(response.status, response.msg, _decoded(body, response.getheader("Content-Encoding")))
        except TimeoutError:
            self._drop(conn)
            raise CallTimeout("the call took longer than the timeout") from None
        except (OSError, http.client.HTTPException) as exc:
            self._drop(conn)
            raise CallBroken(type(exc).__name__) from exc
        except BaseException:
            self._drop(conn)
            raise

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()

    # --- connections ---------------------------------------------------------------------------

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is not None and conn.sock is not None and _readable(conn.sock):
            self._drop(conn)  # the server closed it (or sent something unasked) while it was idle
            conn = None
        if conn is None:
            connect = min(CONNECT_TIMEOUT_S, self.timeout)
            if self.https:
                conn = http.client.HTTPSConnection(self.host, self.port, timeout=connect, context=self._context())
            else:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=connect)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def _drop(self, conn: http.client.HTTPConnection) -> None:
        conn.close()
        if getattr(self._local, "conn", None) is conn:
            self._local.conn = None
        with self._lock:
            if conn in self._all:
                self._all.remove(conn)

    def _context(self) -> Any:
        if self._tls is None:
            import ssl

            cafile, capath = os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")
            if not cafile and not capath:
                try:
                    import certifi

                    cafile = certifi.where()
                except ImportError:  # pragma: no cover - httpx (so certifi) is installed with openai
                    pass
            self._tls = ssl.create_default_context(cafile=cafile or None, capath=capath or None)
        return self._tls


def _decoded(body: bytes, encoding: str | None) -> bytes:
    """The body without its content coding (http.client asks for ``identity``; some servers compress anyway,
    and the SDK's httpx would decode gzip and deflate). A body that does not decode is returned as it
    came, to be refused as malformed."""
    coding = (encoding or "").strip().lower()
    if coding in ("", "identity"):
        return body
    try:
        if coding in ("gzip", "x-gzip"):
            return zlib.decompress(body, wbits=zlib.MAX_WBITS | 16)
        if coding == "deflate":
            try:
                return zlib.decompress(body)
            except zlib.error:  # raw deflate, as some servers send it
                return zlib.decompress(body, wbits=-zlib.MAX_WBITS)
    except zlib.error:
        return body
    return body


def _readable(sock: socket.socket) -> bool:
    """Whether an idle socket has something to read: the peer closed it (or broke the protocol)."""
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


class _DeadlineReader(io.RawIOBase):
    """A socket's reading side where every read waits only until the call's deadline."""

    def __init__(self, sock: socket.socket, deadline: float):
        self.sock, self.deadline = sock, deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the whole call took longer than the timeout")
        self.sock.settimeout(remaining)
        return self.sock.recv_into(buffer)


class _DeadlineSocket:
    """What ``HTTPResponse`` needs of a socket (``makefile``), reading through a :class:`_DeadlineReader`."""

    def __init__(self, sock: socket.socket, deadline: float):
        self.sock, self.deadline = sock, deadline

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self.sock, self.deadline), 65536)


def _deadline_response(deadline: float) -> Any:
    def make(sock: socket.socket, *args: Any, **kwargs: Any) -> http.client.HTTPResponse:
        return http.client.HTTPResponse(_DeadlineSocket(sock, deadline), *args, **kwargs)  # type: ignore[arg-type]

    return make
