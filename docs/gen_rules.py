"""Write docs/rules/<rule-id>.md from the rule catalogue (src/mlchain/rules.py).

The catalogue is the single source of truth; tests/unit/test_docs.py fails when a page is missing or
stale. Run `python docs/gen_rules.py` after changing a rule.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from mlchain.rules import RULES, Rule  # noqa: E402


def render(rule: Rule) -> str:
    """The Markdown page of one rule."""
    tags = ", ".join(rule.tags)
    return (
        f"# `{rule.id}`: {rule.title}\n\n"
        f"- Default severity: **{rule.severity.label}**\n"
        f"- Tags: {tags}\n\n"
        f"## What it means\n\n{rule.description}\n\n"
        f"## What to do\n\n{rule.remediation}\n"
    )


def index() -> str:
    """The rules index page."""
    lines = ["# Rules\n", "| rule | default severity | title |", "|---|---|---|"]
    for rule in sorted(RULES.values(), key=lambda r: r.id):
        lines.append(f"| [`{rule.id}`]({rule.id}.md) | {rule.severity.label} | {rule.title} |")
    return "\n".join(lines) + "\n"


def expected_pages() -> dict[str, str]:
    """File name -> content for every generated page."""
    pages = {f"{rule.id}.md": render(rule) for rule in RULES.values()}
    pages["index.md"] = index()
    return pages


def main() -> int:
    out = HERE / "rules"
    out.mkdir(exist_ok=True)
    pages = expected_pages()
    for stale in {p.name for p in out.glob("*.md")} - set(pages):
        (out / stale).unlink()
    for name, text in pages.items():
        (out / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(pages)} pages to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
