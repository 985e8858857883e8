"""The one place that takes secrets out of text shown to people or stored: :func:`redact`.

Every :class:`~workbench.errors.WorkbenchError` message passes through it (so stderr, ``--json``,
``runs.error``, ``run_items.error`` and ``st.error`` all do), and every URL the workbench stores or
shows goes through :func:`redact_url`. What it removes:

- the values of the API keys this process holds (each :class:`~workbench.config.Secret` registers
  its value, whatever its shape: a gateway key need not start with ``sk-``);
- anything shaped like an OpenAI key (``sk-…``, ``sk-proj-…``) or a bearer token
  (``Authorization: Bearer …``, ``"authorization": "…"``, ``api-key: …``), as a hostile or
  careless server may echo the request's headers in its error message;
- a URL's credentials (``http://user:password@host``) and secret-looking query values
  (``?api_key=…``, ``?key=…``, ``?token=…``, ``?sig=…``).

It imports nothing of the workbench, so every floor may use it.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import urlsplit, urlunsplit

MARK = "[redacted]"
MIN_SECRET = 8  # shorter values would redact ordinary words
_known: set[str] = set()
_known_lock = threading.Lock()

_KEY_SHAPE = re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}")
_HEADER = re.compile(
    r"""(?ix)
    (["']?(?:authorization|proxy-authorization|api[-_]?key|x-api-key|openai[-_]api[-_]key)["']?\s*[:=]\s*["']?)
    (?:(bearer|basic|token)\s+)?
    ([A-Za-z0-9._~+/=\-]{8,})  # a token's characters: prose such as "api_key: secrets are..." is left alone
    """
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+([A-Za-z0-9._~+/=\-]{8,})")
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)([^/\s@\"'<>]+)@")
_SECRET_NAMES = r"api[-_]?key|key|token|access[-_]token|sig|signature|password|secret"
_SECRET_QUERY = re.compile(rf"(?i)([?&](?:{_SECRET_NAMES})=)[^&#\s\"']+")


def register(value: str | None) -> None:
    """Remember a secret value (an API key) so that :func:`redact` removes it wherever it appears."""
    if value and len(value) >= MIN_SECRET:
        with _known_lock:
            _known.add(value)


def redact(text: str) -> str:
    """``text`` without keys, bearer tokens or URL credentials (replaced by ``[redacted]``)."""
    if not text:
        return text
    with _known_lock:
        known = sorted(_known, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, MARK)
    text = _URL_USERINFO.sub(lambda m: f"{m.group(1)}{MARK}@", text)
    text = _SECRET_QUERY.sub(lambda m: f"{m.group(1)}{MARK}", text)
    text = _HEADER.sub(lambda m: f"{m.group(1)}{(m.group(2) + ' ') if m.group(2) else ''}{MARK}", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {MARK}", text)
    return _KEY_SHAPE.sub(MARK, text)


def redact_url(url: str) -> str:
    """A URL fit to store or show: no ``user:password@``, no secret query values; otherwise unchanged."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact(url)
    netloc = parts.netloc.rpartition("@")[2]
    if netloc != parts.netloc:
        url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return redact(url)
