"""The one function that turns a prompt, a model and a temperature into a chat-completions body.

The runner sends this body and the exporters embed it, so an exported script makes exactly the
request that the sweep measured.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from workbench.promptfile import PromptFile
from workbench.templating import render_messages


def request_body(
    prompt: PromptFile, model: str, temperature: float | None, values: Mapping[str, object] | None = None
) -> dict[str, Any]:
    """``{"model", "messages", "temperature", **prompt.params}`` in that key order.

    ``temperature`` None means the model does not take one: the key is left out. With ``values``
    the messages are rendered (an unknown variable is an :class:`~workbench.errors.InputError`);
    without, the ``{{variables}}`` stay in place.
    """
    if values is None:
        messages = [dict(message) for message in prompt.messages]
    else:
        messages = render_messages(prompt.messages, values)
    body: dict[str, Any] = {"model": model, "messages": messages}
    if temperature is not None:
        body["temperature"] = temperature
    for key, value in prompt.params.items():
        body[key] = copy.deepcopy(value)
    return body
