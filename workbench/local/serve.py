"""``python -m workbench.local.serve --parent PID -- [arguments of python -m llama_cpp.server]``

llama-cpp-python's OpenAI-compatible server, ``python -m llama_cpp.server``, run in this process
after three changes the workbench relies on. Each wraps a public method of ``llama_cpp.Llama``:

- **Every prompt is evaluated the same way, whatever ran before** (``Llama.generate``). The server
  reuses the cached prefix the prompt shares with the previous one, and a prompt evaluated in
  different batch splits gets slightly different logits: at temperature 0 two identical calls could
  answer differently depending on what ran before (seen with SmolLM2: "The review is a mix" then
  "The review is positive,"). Here a prompt is always evaluated in two parts, from an empty cache:
  its first turn (up to the first end-of-turn token: the system message) and the rest. The first
  part is reused when the previous prompt had the same one, which gives bit-identical state, so
  temperature 0 is reproducible and a sweep still reads its shared system prompt only once.
- **A streamed chat completion ends with a usage chunk** (``Llama.create_chat_completion``), as
  OpenAI's does with ``stream_options.include_usage``; llama.cpp sends none. It counts what the
  non-streamed answer's ``usage`` counts: the prompt's tokens and the tokens generated.
- **It ends when the process that started it ends**, even one killed with SIGKILL, so a crashed
  sweep leaves no server behind.

Uvicorn's line per request is turned off: the app keeps one server for its whole life, and its
output goes to a temporary file that is only read when the server fails to start.
"""

from __future__ import annotations

import os
import runpy
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any


def _watch_parent(parent: int) -> None:
    """Exit as soon as ``parent`` is gone (this process is then re-parented)."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def patch_llama() -> None:
    """Wrap ``Llama.generate`` and ``Llama.create_chat_completion`` (see the module docstring)."""
    import llama_cpp

    generate = llama_cpp.Llama.generate
    create_chat_completion = llama_cpp.Llama.create_chat_completion

    def is_end(self: Any, token: int) -> bool:
        return bool(llama_cpp.llama_token_is_eog(self._model.vocab, token))

    def generate_in_two_parts(self: Any, tokens: Any, *args: Any, **kwargs: Any) -> Iterator[int]:
        tokens = list(tokens)
        split = next((i + 1 for i, token in enumerate(tokens) if is_end(self, token)), 0)
        if split >= len(tokens):
            split = 0  # nothing after the first turn: one part
        if split and self.n_tokens >= split and list(self.input_ids[:split]) == tokens[:split]:
            self.n_tokens = split  # the first turn is cached: keep it, drop the rest
        else:
            self.reset()
            if split:
                self.eval(tokens[:split])
        kwargs["reset"] = False  # no prefix matching of its own: the rest is evaluated after the first turn
        usage = self._workbench_usage = [len(tokens), 0]
        for token in generate(self, tokens[split:], *args, **kwargs):
            if not is_end(self, token):
                usage[1] += 1
            yield token

    def chat_completion_with_usage(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = create_chat_completion(self, *args, **kwargs)
        if not kwargs.get("stream"):
            return result

        def chunks() -> Iterator[dict[str, Any]]:
            last: dict[str, Any] = {}
            for chunk in result:
                last = chunk
                yield chunk
            prompt, completion = getattr(self, "_workbench_usage", (0, 0))
            usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
            yield {
                "id": last.get("id", "chatcmpl-usage"),
                "object": "chat.completion.chunk",
                "created": last.get("created", int(time.time())),
                "model": last.get("model", ""),
                "choices": [],
                "usage": usage,
            }

        return chunks()

    llama_cpp.Llama.generate = generate_in_two_parts
    llama_cpp.Llama.create_chat_completion = chat_completion_with_usage


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[0] != "--parent" or "--" not in argv:
        sys.exit("usage: python -m workbench.local.serve --parent PID -- [llama_cpp.server arguments]")
    parent = int(argv[1])
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="watch-parent").start()
    patch_llama()
    import uvicorn.config

    uvicorn.config.LOGGING_CONFIG["loggers"]["uvicorn.access"]["level"] = "WARNING"
    sys.argv = ["llama_cpp.server", *argv[argv.index("--") + 1 :]]
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
