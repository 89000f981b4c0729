"""Static analysis of Jinja chat templates, and the Hugging Face files that carry them.

Chat templates are programs. Servers render them with Jinja2, and several rendered them outside
the sandbox: llama-cpp-python (CVE-2024-34359), vLLM, SGLang (CVE-2026-5760). From there a
template climbs ``().__class__.__base__.__subclasses__()`` or ``cycler.__init__.__globals__`` to
``os`` and runs commands the moment a prompt is formatted.

mlchain never renders, compiles or executes a template. It parses it with Jinja2's own parser
(the parser of the hardened ``ImmutableSandboxedEnvironment`` with Hugging Face's extensions, so
the tree is what a server would compile) and checks the tree against an **allowlist** of the
constructs real chat templates use (:mod:`mlchain.scan.jinja_allowlist`; docs/chat-templates.md
lists it with the reason for each entry):

* ``chat-template-injection`` (critical): what the sandbox exists to refuse. Names starting with
  ``_`` (attributes, keys, keyword arguments, attribute paths, format fields), the frame/code
  attributes Jinja blocks, reaching into Jinja's callables (``cycler.__init__``...), and names
  built at render time that fold to one of those.
* ``chat-template-unlisted`` (high): anything outside the allowlist. A node type, filter, test,
  global or method not on the list; a subscript key, attribute path, filter or test name built
  at render time or (where a literal is required) taken from data; ``*args``/``**kwargs``.
* A template Jinja2 cannot parse is ``chat-template-suspicious`` at **high** severity (fail
  closed): it was not analysed, and another engine (llama.cpp's own) may accept it. Its raw
  text is still searched for dunder names, which stay critical.

Templates live in GGUF metadata (:mod:`mlchain.scan.gguf`), ``tokenizer_config.json`` (a string
or a list of ``{"name", "template"}``), ``chat_template.json``, ``processor_config.json`` and
stand-alone ``*.jinja`` files; :class:`TokenizerConfigScanner` reads the last four.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

from mlchain.models import Finding, Location, Severity
from mlchain.scan.base import Artifact, ScanContext, finding
from mlchain.scan.jinja_allowlist import Checker, Issue
from mlchain.scan.remote_code import code_references, reference_findings
from mlchain.scan.strict_json import JsonProblem, parse_strict

MAX_TEMPLATE_CHARS = 1_000_000
"""Largest template parsed; real chat templates are a few kB (the largest seen ~30 kB)."""

_MAX_FINDINGS = 20
_DUNDER = re.compile(r"(?:^|[.\[\s'\"])(__\w+__)")


def analyse_template(source: str, loc: Location, name: str | None = None) -> list[Finding]:
    """Return the findings for one chat template's Jinja ``source``.

    ``name`` is the template's name (``None`` for the default template); it appears in every
    message so a named variant is never confused with the default one.
    """
    label = "chat template" if name is None else f"chat template {name!r}"
    issues = _analyse(source)
    findings: list[Finding] = []
    seen: set[tuple[str, str, str | None]] = set()
    for issue in issues:
        key = (issue.rule, issue.message, issue.evidence)
        if key in seen:
            continue
        seen.add(key)
        findings.append(
            finding(
                issue.rule,
                f"{label}: {issue.message}",
                loc,
                evidence=issue.evidence,
                severity=issue.severity,
            )
        )
    findings.sort(key=lambda f: -int(f.severity))
    if len(findings) > _MAX_FINDINGS:
        rest = findings[_MAX_FINDINGS:]
        findings = findings[:_MAX_FINDINGS]
        findings.append(
            finding(
                "chat-template-suspicious",
                f"{label}: {len(rest)} further problems not listed",
                loc,
                severity=max(f.severity for f in rest),
            )
        )
    return findings


def _analyse(source: str) -> list[Issue]:
    from jinja2 import TemplateSyntaxError

    if len(source) > MAX_TEMPLATE_CHARS:
        return [
            Issue(
                "chat-template-suspicious",
                f"template of {len(source)} characters is too large to analyse",
                None,
                Severity.HIGH,
            ),
            *_raw_dunders(source),
        ]
    try:
        tree = _environment().parse(source)
    except TemplateSyntaxError as exc:
        return [
            Issue(
                "chat-template-suspicious",
                f"does not parse as Jinja (line {exc.lineno}: {exc.message}); it was not analysed",
                None,
                Severity.HIGH,
            ),
            *_raw_dunders(source),
        ]
    except (RecursionError, MemoryError, ValueError, TypeError) as exc:
        return [
            Issue(
                "chat-template-suspicious",
                f"could not be parsed ({type(exc).__name__}); it was not analysed",
                None,
                Severity.HIGH,
            ),
            *_raw_dunders(source),
        ]
    return list(Checker(tree).issues())


def _raw_dunders(source: str) -> list[Issue]:
    found = dict.fromkeys(m.group(1) for m in _DUNDER.finditer(source[:MAX_TEMPLATE_CHARS]))
    return [
        Issue("chat-template-injection", f"text names the dunder attribute {name}", name)
        for name in list(found)[:5]
    ]


@functools.cache
def _environment() -> Any:
    """The hardened environment whose parser we use; it never renders anything here."""
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    # Hugging Face renders with loopcontrols ({% break %}) and a {% generation %} block tag.
    return ImmutableSandboxedEnvironment(
        extensions=[loopcontrols, _generation_extension()], autoescape=False
    )


def _generation_extension() -> type:
    from jinja2 import nodes
    from jinja2.ext import Extension

    class GenerationTag(Extension):
        """Parse ``{% generation %}...{% endgeneration %}`` as a plain scope."""

        tags = {"generation"}  # noqa: RUF012 - Jinja's Extension API declares a set

        def parse(self, parser: Any) -> Any:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return nodes.Scope(body, lineno=lineno)

    return GenerationTag


class TokenizerConfigScanner:
    """Analyses the chat templates of tokenizer configs and stand-alone template files.

    Hugging Face stores templates in ``tokenizer_config.json``, ``chat_template.json`` and
    ``*.jinja`` files (``chat_template.jinja``, ``additional_chat_templates/<name>.jinja``); all
    are read here. ``processor_config.json`` is read by :mod:`mlchain.scan.hf_config`, which
    calls :func:`config_templates` too. The ``auto_map`` of ``tokenizer_config.json`` is judged
    like ``config.json``'s.

    ``chat_template`` is either a string or a list of ``{"name": ..., "template": ...}``; every
    named template is analysed, not only the default. The file is read whole, within
    ``max_header_bytes``, and parsed as strict JSON: a duplicated ``chat_template`` key is itself
    suspicious (loaders disagree on which copy wins) and every copy is analysed.
    """

    def scan(self, artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
        """Yield the findings for one tokenizer configuration or template file."""
        loc = artifact.location
        limit = ctx.limits.max_header_bytes
        if artifact.size > limit:
            yield finding(
                "scan-limit-exceeded",
                f"file of {artifact.size} bytes exceeds the limit of {limit} bytes",
                loc,
            )
            return
        with artifact.path.open("rb") as handle:
            data = handle.read(min(artifact.size, limit) + 1)
        if artifact.path.name.lower().endswith(".jinja"):
            try:
                source = data.decode("utf-8")
            except UnicodeDecodeError:
                yield finding("parse-error", "template file is not valid UTF-8", loc)
                return
            yield from analyse_template(source, loc, artifact.path.stem)
            return
        try:
            parsed = parse_strict(data)
        except JsonProblem as exc:
            yield finding("parse-error", f"tokenizer configuration is not strict JSON: {exc}", loc)
            return
        doc = parsed.value
        if not isinstance(doc, dict):
            yield finding("parse-error", "tokenizer configuration is not a JSON object", loc)
            return
        yield from config_templates(doc, parsed.duplicate_values, loc)
        # tokenizer_config.json's auto_map names tokenizer classes (`[slow, fast]`) that
        # transformers imports from the repository under trust_remote_code=True.
        yield from reference_findings(code_references(doc), artifact.path.parent, loc)


def config_templates(
    doc: dict[str, Any], duplicates: dict[str, list[Any]], loc: Location
) -> Iterator[Finding]:
    """Findings for the ``chat_template`` entry of a parsed JSON configuration ``doc``.

    ``duplicates`` maps keys defined more than once to all their values: a repeated
    ``chat_template`` is itself suspicious (loaders disagree on which copy wins) and every copy
    is analysed.
    """
    values = duplicates.get("chat_template")
    if values is not None:
        yield finding(
            "chat-template-suspicious",
            f"chat_template is defined {len(values)} times; loaders disagree on which wins",
            loc,
            severity=Severity.HIGH,
        )
    for value in values or [doc.get("chat_template")]:
        yield from _config_templates(value, loc)


def _config_templates(value: Any, loc: Location) -> Iterator[Finding]:
    if value is None:
        return
    if isinstance(value, str):
        yield from analyse_template(value, loc)
        return
    if not isinstance(value, list):
        yield finding(
            "chat-template-suspicious",
            "chat_template is neither a string nor a list of named templates",
            loc,
        )
        return
    for index, item in enumerate(value):
        name = item.get("name") if isinstance(item, dict) else None
        template = item.get("template") if isinstance(item, dict) else None
        if not isinstance(name, str) or not isinstance(template, str):
            yield finding(
                "chat-template-suspicious",
                f"chat_template entry {index} is not a {{name, template}} pair of strings",
                loc,
            )
            continue
        yield from analyse_template(template, loc, name)


__all__ = ["MAX_TEMPLATE_CHARS", "TokenizerConfigScanner", "analyse_template", "config_templates"]
