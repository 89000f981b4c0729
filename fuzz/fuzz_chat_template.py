"""Fuzz the chat-template (Jinja) analysis on template source text."""

from __future__ import annotations

from fuzz.common import location, main
from mlchain.scan.chat_template import analyse_template

SEEDS = "chat_template"


def TestOneInput(data: bytes) -> None:
    # Templates arrive as JSON strings or GGUF strings: any text, lone surrogates included
    # (invalid bytes decode to them here, as "\udc80" escapes do in JSON).
    source = data.decode("utf-8", "surrogateescape")
    analyse_template(source, location("tokenizer_config.json"))


if __name__ == "__main__":
    main(TestOneInput)
