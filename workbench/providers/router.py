"""One provider per model: local models to their own server, every other model to OPENAI_BASE_URL.

This lets one sweep compare a local model with gpt-4.1-nano. Each model's calls are stored (and
reused) under its :meth:`ModelRouter.endpoint`, which for a local model names the model file or
server rather than a port that changes on every start.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from workbench.config import Settings
from workbench.local import LocalModel
from workbench.local.server import LocalServers
from workbench.providers.base import Completion


class ModelRouter:
    def __init__(self, settings: Settings, local: Mapping[str, LocalModel], servers: LocalServers):
        self.settings = settings
        self.local = dict(local)
        self.servers = servers
        self.base_url = settings.base_url.rstrip("/")
        self._remote: Any = None
        self._local: dict[str, Any] = {}
        self._lock = threading.Lock()

    def endpoint(self, model: str) -> str:
        local = self.local.get(model)
        return local.endpoint if local else self.base_url

    def remote(self) -> Any:
        """The provider for OPENAI_BASE_URL (the SDK is imported on first use)."""
        if self._remote is None:
            from workbench.providers.openai_compat import OpenAIProvider

            with self._lock:
                if self._remote is None:
                    self._remote = OpenAIProvider(self.settings)
        return self._remote

    def provider(self, model: str) -> Any:
        """The provider for ``model``; a local model's server is started when it is not running."""
        local = self.local.get(model)
        if local is None:
            return self.remote()
        from workbench.providers.local import LocalProvider

        if local.managed:
            server = self.servers.server(local)
            base_url, turn, crash = server.base_url, server.turn, server.crash
        else:
            base_url, turn, crash = str(local.base_url), None, None
        provider = self._local.get(model)
        if provider is None or provider.base_url != base_url:
            with self._lock:
                provider = self._local.get(model)
                if provider is None or provider.base_url != base_url:
                    provider = self._local[model] = LocalProvider(local, base_url, self.settings, turn, crash)
        return provider

    def complete(self, body: dict[str, Any], stop: threading.Event | None = None) -> Completion:
        return self.provider(str(body.get("model"))).complete(body, stop)

    def stream(
        self,
        body: dict[str, Any],
        on_text: Callable[[str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> Completion:
        return self.provider(str(body.get("model"))).stream(body, on_text, stop)

    def list_models(self) -> list[str]:
        """What OPENAI_BASE_URL offers (``/v1/models``)."""
        return self.remote().list_models()
