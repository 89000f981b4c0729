"""Fuzz the GGUF reader and, as ``GgufScanner`` does, the chat templates it extracts."""

from __future__ import annotations

import io

from fuzz.common import context, location, main
from mlchain.scan.chat_template import analyse_template
from mlchain.scan.gguf import parse_gguf

SEEDS = "gguf"


def TestOneInput(data: bytes) -> None:
    loc = location("fuzz.gguf")
    info = parse_gguf(io.BytesIO(data), len(data), loc, context(data))
    for key, source in info.templates.items():
        analyse_template(source, loc, None if key == "tokenizer.chat_template" else key)


if __name__ == "__main__":
    main(TestOneInput)
