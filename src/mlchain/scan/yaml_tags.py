"""YAML python tags, resolved the way a YAML parser resolves them, in the files a loader reads.

PyYAML's ``yaml.load`` (with ``Loader``/``UnsafeLoader``, and ``full_load`` before 5.4)
constructs Python objects for tags under ``tag:yaml.org,2002:python/``:
``!!python/object/apply:os.system [...]`` runs a command (CVE-2017-18342, CVE-2020-1747,
CVE-2020-14343). A tag has many spellings besides ``!!python/``:

* a ``%TAG`` directive gives the prefix another handle: ``%TAG !e! tag:yaml.org,2002:python/``
  then ``!e!object/apply:os.system``, or redefines ``!``/``!!`` themselves;
* a verbatim tag names the full URI: ``!<tag:yaml.org,2002:python/object/apply:os.system>``;
* tag URIs are percent-escaped: ``!!python%2Fobject/apply:os.system``,
  ``!<tag:yaml.org%2C2002:python/name:os.system>``.

So the file is not searched for patterns. It is tokenized with PyYAML's own scanner
(``yaml.scan``: it builds no object, it only cuts the text into tokens), and every ``TagToken`` is
resolved with the ``%TAG`` directives of the stream (every prefix ever declared for its handle,
plus the defaults) and URI-unescaped before it is judged. A tag token can only start at a ``!``
character, so text without one has no tag and is not tokenized. What the scanner cannot tokenize
is a finding (fail closed), and the tags are then looked for lexically, over-approximating.
Files larger than :data:`MAX_TOKENIZED_BYTES` (the pure-Python scanner is slow) get the same
lexical over-approximation.

Only what a YAML loader would read is judged as YAML (mlchain issue #14, item 5): ``.yaml`` and
``.yml`` files, MLflow's ``MLmodel``, and the YAML front matter of Markdown files (model cards,
``README.md``, whose metadata block tools parse as YAML). The rest of a Markdown file, JSON
(including mlchain's own JSON and SARIF reports) and other text are not YAML to any loader a
model ships with, and a string that merely mentions ``!!python/...`` there is not a tag.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import unquote

from mlchain.models import Finding, Severity
from mlchain.scan.base import Artifact, ScanContext, finding

MAX_TOKENIZED_BYTES = 1 << 20
"""YAML up to this size is tokenized; larger files get the lexical over-approximation."""
YAML_SUFFIXES = frozenset({".yaml", ".yml"})
YAML_NAMES = frozenset({"mlmodel"})
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})

_CORE_PREFIX = "tag:yaml.org,2002:"
INERT_PYTHON_TAGS = frozenset(
    _CORE_PREFIX + "python/" + name
    for name in (
        *("none", "bool", "str", "unicode", "bytes", "int", "long", "float", "complex"),
        *("list", "tuple", "dict"),
    )
)
"""Python tags PyYAML's FullConstructor maps to builtin values (``yaml.dump`` writes
``!!python/tuple`` for tuples, e.g. in Lightning's ``hparams.yaml``): they construct no object
with behaviour, so they are low. ``python/name``, ``python/module``, ``python/object*`` are
critical."""
_DEFAULT_HANDLES = {"!": "!", "!!": _CORE_PREFIX}
_PYTHON = re.compile(r"(?:^|[:!/])python[/:]", re.IGNORECASE)
_CHUNK = 1 << 20
_OVERLAP = 4096
_LEX_DIRECTIVE = re.compile(rb"^%TAG[ \t]+(![0-9A-Za-z_-]*!?)[ \t]+(\S+)", re.MULTILINE)
_LEX_TAG = re.compile(rb"!(?:<([^>\s]*)>|([0-9A-Za-z_-]*!)?([^\s,\[\]{}]*))")
_FRONT_MATTER_START = re.compile(r"\ufeff?\s*---[ \t]*\r?\n")
"""huggingface_hub's model-card regex allows blank lines before the opening ``---``."""
_FRONT_MATTER_END = re.compile(r"^(?:---|\.\.\.)[ \t]*\r?$", re.MULTILINE)


def yaml_kind(name: str) -> str | None:
    """``"yaml"`` for YAML files, ``"front-matter"`` for Markdown, else ``None`` (not YAML)."""
    lower = name.lower()
    suffix = lower[lower.rfind(".") :] if "." in lower else ""
    if suffix in YAML_SUFFIXES or lower in YAML_NAMES:
        return "yaml"
    if suffix in MARKDOWN_SUFFIXES:
        return "front-matter"
    return None


@dataclass
class _Directives:
    """Every prefix each handle was given by a ``%TAG`` directive, plus the defaults."""

    prefixes: dict[str, set[str]] = field(
        default_factory=lambda: {h: {p} for h, p in _DEFAULT_HANDLES.items()}
    )

    def add(self, handle: str, prefix: str) -> None:
        self.prefixes.setdefault(handle, set()).add(prefix)

    def resolve(self, handle: str | None, suffix: str) -> list[str]:
        """Every full tag ``handle`` + ``suffix`` can stand for, URI-unescaped."""
        if handle is None:  # verbatim !<uri>
            candidates = [suffix]
        else:
            # An undefined handle is an error to PyYAML; another parser may guess, so every
            # prefix declared anywhere is tried (over-approximation).
            known = self.prefixes.get(handle)
            pool = known if known else set().union(*self.prefixes.values())
            candidates = [prefix + suffix for prefix in pool]
        return [_unescape(c) for c in candidates]


def _unescape(uri: str) -> str:
    # PyYAML's scanner already decodes %XX in tags; decoding again catches double escapes,
    # which another parser might decode twice.
    for _ in range(3):
        decoded = unquote(uri, errors="replace")
        if decoded == uri:
            break
        uri = decoded
    return uri


def is_python_tag(tag: str) -> bool:
    """Whether a resolved tag names a Python constructor (``python/object``, ``python/name``...)."""
    return tag.startswith(_CORE_PREFIX + "python") or bool(_PYTHON.search(tag))


def yaml_tag_findings(artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
    """Findings for the YAML python tags of one text file, if a YAML loader would read it."""
    kind = yaml_kind(artifact.path.name)
    if kind is None:
        return
    if kind == "front-matter":
        yield from _front_matter(artifact)
        return
    if artifact.size > MAX_TOKENIZED_BYTES:
        yield from _lexical_stream(artifact, ctx)
        return
    data = _read(artifact, artifact.size)
    yield from _judge(data, 0, artifact, ctx)


def _read(artifact: Artifact, limit: int) -> bytes:
    if artifact.head is not None and len(artifact.head) >= min(artifact.size, limit):
        return artifact.head[:limit]
    with artifact.path.open("rb") as handle:
        return handle.read(limit)


def _front_matter(artifact: Artifact) -> Iterator[Finding]:
    head = _read(artifact, MAX_TOKENIZED_BYTES + 8)
    text = head.decode("utf-8", errors="replace")
    opening = _FRONT_MATTER_START.match(text)
    if opening is None:
        return  # no front matter: the Markdown is not YAML
    end = _FRONT_MATTER_END.search(text, opening.end())
    if end is None:
        return  # an unterminated block is not front matter to the model-card parsers
    block = text[opening.end() : end.start()]
    start = len(text[: opening.end()].encode("utf-8"))
    yield from _judge(block.encode("utf-8"), start, artifact, None)


def _judge(
    data: bytes, base: int, artifact: Artifact, ctx: ScanContext | None
) -> Iterator[Finding]:
    """Tokenize ``data`` (found at byte ``base`` of the file) and report python tags."""
    if b"!" not in data:
        return  # every tag token starts with '!'
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    tags = _tokenized_tags(text, ctx) if text else None
    if tags is None:
        yield finding(
            "parse-error",
            "YAML that PyYAML's scanner cannot tokenize; its tags were looked for lexically",
            artifact.location.at(base),
            severity=Severity.MEDIUM,
        )
        yield from _lexical(data, base, artifact, _Directives())
        return
    inert: Finding | None = None
    for index, tag in tags:
        if is_python_tag(tag):
            found = _python_tag_finding(artifact, base + len(text[:index].encode("utf-8")), tag)
            if found.severity > Severity.LOW:
                yield found
                return
            inert = inert or found
    if inert is not None:
        yield inert


def _tokenized_tags(text: str, ctx: ScanContext | None) -> list[tuple[int, str]] | None:
    """Every resolved tag of ``text`` with its character index; ``None`` if it won't tokenize."""
    import yaml

    directives = _Directives()
    out: list[tuple[int, str]] = []
    try:
        for count, token in enumerate(yaml.scan(text, Loader=yaml.SafeLoader)):
            if isinstance(token, yaml.DirectiveToken) and token.name == "TAG":
                handle, prefix = token.value
                directives.add(handle, prefix)
            elif isinstance(token, yaml.TagToken):
                handle, suffix = token.value
                for tag in directives.resolve(handle, suffix):
                    out.append((token.start_mark.index, tag))
            if count % 4096 == 0 and ctx is not None and ctx.out_of_time():
                return None
    except (yaml.YAMLError, RecursionError, ValueError):
        return None
    return out


def _lexical(
    data: bytes, base: int, artifact: Artifact, directives: _Directives
) -> Iterator[Finding]:
    """Over-approximate: every ``!``-token of the bytes, resolved with every directive seen."""
    spans: list[tuple[int, int]] = []
    for match in _LEX_DIRECTIVE.finditer(data):
        spans.append(match.span())
        directives.add(
            match.group(1).decode("utf-8", "replace"), match.group(2).decode("utf-8", "replace")
        )
    for match in _LEX_TAG.finditer(data):
        if any(start <= match.start() < end for start, end in spans):
            continue  # the handle of a %TAG directive is not a tag
        if match.group(1) is not None:
            tags = directives.resolve(None, match.group(1).decode("utf-8", "replace"))
        else:
            handle = "!" + (match.group(2) or b"").decode("utf-8", "replace")
            suffix = match.group(3).decode("utf-8", "replace")
            tags = directives.resolve(handle, suffix)
        for tag in tags:
            if is_python_tag(tag):
                yield _python_tag_finding(artifact, base + match.start(), tag)
                return


def _lexical_stream(artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
    """The lexical check over a file too large to tokenize, in overlapping chunks."""
    directives = _Directives()
    with artifact.path.open("rb") as handle:
        offset = 0
        carry = b""
        while True:
            data = handle.read(_CHUNK)
            if not data:
                return
            found = list(_lexical(carry + data, offset - len(carry), artifact, directives))
            if found:
                yield found[0]
                return
            carry = data[-_OVERLAP:]
            offset += len(data)
            if ctx.out_of_time():
                yield finding(
                    "scan-limit-exceeded",
                    "time limit reached while looking for YAML python tags",
                    artifact.location.at(offset),
                )
                return


def _python_tag_finding(artifact: Artifact, offset: int, tag: str) -> Finding:
    if tag in INERT_PYTHON_TAGS:
        return finding(
            "yaml-python-tag",
            f"YAML tag {tag!r} needs an unsafe loader but only builds a builtin value",
            artifact.location.at(offset),
            evidence=tag,
            severity=Severity.LOW,
        )
    return finding(
        "yaml-python-tag",
        f"YAML tag resolves to {tag[:120]!r}: yaml.load / unsafe_load would build Python objects "
        "(and can run code) when this file is read",
        artifact.location.at(offset),
        evidence=tag[:160],
    )


__all__ = ["MAX_TOKENIZED_BYTES", "is_python_tag", "yaml_kind", "yaml_tag_findings"]
