"""User-facing errors.

Every error a user can cause (a bad file, an unknown variable, a wrong key, a dead server) is a
:class:`WorkbenchError` whose ``str()`` is one line naming the problem and where it is. The CLI
prints it and exits non-zero; the UI shows it with ``st.error``. Anything else is a bug.
"""

from __future__ import annotations

from workbench.redaction import redact


class WorkbenchError(Exception):
    """A problem the user can fix; the message is one line, without keys or URL credentials."""

    def __str__(self) -> str:
        return redact(" ".join(super().__str__().split()))


class InputError(WorkbenchError):
    """A malformed file, missing column, unknown variable or out-of-range argument."""


class BudgetError(WorkbenchError):
    """A plan whose estimated cost exceeds what may be spent."""


class ProviderError(WorkbenchError):
    """The model server refused or failed a request."""


class AuthError(ProviderError):
    """The server rejected the API key (401/403). Never retried."""


class ModelNotFoundError(ProviderError):
    """The server does not know the model (retired or misspelt)."""


class ModelUnavailableError(ModelNotFoundError):
    """A local model this machine cannot serve (its llama.cpp server would not start): stops its cells."""


class ServerUnreachableError(ProviderError):
    """The server could not be reached even after retries."""


class TransientError(ProviderError):
    """A failure worth retrying: 429, 5xx, timeout, dropped connection, malformed body."""

    def __init__(self, message: str, retry_after: float | None = None, kind: str = "server"):
        super().__init__(message)
        self.retry_after = retry_after
        self.kind = kind  # "rate_limit", "unavailable" (flex capacity), "server", "timeout", "connection", "malformed"
        # A malformed answer that came with HTTP 200 was billed: (prompt, cached, completion) tokens as
        # reported, each None when it could not be read (then the call is charged at its estimate).
        self.paid: tuple[int | None, int | None, int | None] | None = None


class RequestError(ProviderError):
    """The server refused this one request (400-class, not auth/not-found). Not retried."""


class RefusedError(WorkbenchError):
    """Not for this person or not now: a viewer's sweep, someone else's run, a run paid with another key, a live run."""


class CellRequestError(RequestError):
    """A refusal every call of its cell would get (an unsupported parameter or value): stops that cell.

    Retrying it, or calling the cell's other samples, pays for nothing and cannot help; the message
    keeps the server's own words and says what to change.
    """
