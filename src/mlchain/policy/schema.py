"""Loading and validating ``ModelPolicy`` files (``apiVersion: mlchain.dev/v1alpha1``).

A policy is checked completely at load time: YAML syntax, one document of plain data, the JSON
Schema shipped in ``mlchain/schemas/policy.schema.json``, duplicate names, regular expressions,
public keys and certificate chains, and every CEL expression (compiled, with functions and
variables checked against what mlchain provides). Every problem is a :class:`PolicyError` whose
message starts with ``file:line:`` and says how to fix it, so a policy that loads can only fail
at evaluation time because of its *inputs*.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from mlchain.errors import PolicyError
from mlchain.intoto import PREDICATE_TYPES
from mlchain.models import Severity
from mlchain.policy.functions import FUNCTIONS
from mlchain.policy.yamlnodes import Document, Path_, load_document

API_VERSION = "mlchain.dev/v1alpha1"
KIND = "ModelPolicy"
MAX_POLICY_BYTES = 1 << 20

INPUT_NAMES = ("scan", "signature", "provenance", "sbom", "model")
"""Variables every CEL expression may use (see docs/policy.md)."""

DEFAULT_PREDICATE_TYPES = PREDICATE_TYPES

CORE_CEL_FUNCTIONS = frozenset(
    {
        "size", "matches", "contains", "startsWith", "endsWith",
        "int", "uint", "double", "string", "bytes", "timestamp", "duration", "type", "dyn",
        "getFullYear", "getMonth", "getDayOfYear", "getDayOfMonth", "getDate", "getDayOfWeek",
        "getHours", "getMinutes", "getSeconds", "getMilliseconds",
    }
)  # fmt: skip
"""Functions of core CEL that common-expression-language evaluates natively."""

_TYPE_NAMES = frozenset({"int", "uint", "double", "bool", "string", "bytes", "list", "map"})
_TYPE_NAMES |= {"null_type", "type", "timestamp", "duration"}
_MACRO_BINDING = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")


@dataclass(frozen=True, slots=True)
class Authority:
    """One way a signer may be trusted; exactly one of the three kinds is set."""

    name: str
    kind: str
    """``keyless``, ``key`` or ``certificateChain``."""
    issuer: str | None = None
    subject: str | None = None
    subject_regexp: str | None = None
    key_pem: bytes | None = None
    key_fingerprint: str | None = None
    """Lower-case hex SHA-256 of the DER SubjectPublicKeyInfo (``key`` authorities)."""
    chain_path: Path | None = None
    chain_subjects: tuple[str, ...] = ()
    """RFC 4514 subject names of the chain's certificates (``certificateChain`` authorities)."""
    chain_fingerprints: tuple[str, ...] = ()
    """Lower-case hex SHA-256 of each chain certificate's DER encoding."""

    def describe(self) -> str:
        """Short human description for results and diagnostics."""
        if self.kind == "keyless":
            who = self.subject or f"/{self.subject_regexp}/"
            return f"{self.name} (keyless {who} from {self.issuer})"
        if self.kind == "key":
            return f"{self.name} (key sha256:{(self.key_fingerprint or '')[:16]}…)"
        return f"{self.name} (certificate chain {self.chain_path})"


@dataclass(frozen=True, slots=True)
class AttestationRequirement:
    """An attestation that must be present, verified and signed by one of ``authorities``."""

    name: str
    type: str
    predicate_type: str
    authorities: tuple[str, ...] = ()
    """Names of the authorities allowed to sign it; empty means any policy authority."""


@dataclass(frozen=True, slots=True)
class ScanRequirement:
    """``spec.scan``: what a scan report may contain."""

    fail_on: Severity | None = Severity.MEDIUM
    """Deny on findings at or above this; ``None`` (``never``) disables the threshold."""
    allow_globals: frozenset[str] = frozenset()
    strict: bool = False
    """Deny when the report lists files that were not scanned."""
    accept_attestation: bool = False
    """``verify --policy`` may use a verified scan attestation's report instead of re-scanning."""


@dataclass(frozen=True, slots=True)
class Validation:
    """A CEL expression that must evaluate to ``true``."""

    name: str
    expression: str
    message: str
    line: int
    inputs: frozenset[str]
    """The inputs (``scan``, ``signature``, ...) the expression reads."""
    program: Any = field(default=None, compare=False, repr=False)
    """The compiled ``cel.Program``."""


@dataclass(frozen=True, slots=True)
class ModelPolicy:
    """A loaded, fully validated policy."""

    name: str
    source: str
    authorities: tuple[Authority, ...]
    attestations: tuple[AttestationRequirement, ...] = ()
    validations: tuple[Validation, ...] = ()
    scan: ScanRequirement | None = None
    description: str | None = None

    @property
    def allow_globals(self) -> frozenset[str]:
        """Pickle globals this policy tolerates (pass them to the scanner)."""
        return self.scan.allow_globals if self.scan else frozenset()


def load_policy(path: Path) -> ModelPolicy:
    """Read and validate the policy file at ``path``.

    Relative ``key.path`` and ``certificateChain.path`` entries are resolved against the
    policy file's directory.

    Raises:
        PolicyError: if the file cannot be read or is not a valid policy (exit code 2).
    """
    from mlchain.inputfile import NotRegularFileError, read_regular_file

    try:
        raw = read_regular_file(path, limit=MAX_POLICY_BYTES)
    except OSError as exc:
        raise PolicyError(
            f"Cannot read policy file {path}: {exc.strerror or exc}.",
            hint="Check the --policy path; `mlchain policy init` writes a starter policy.",
        ) from exc
    except NotRegularFileError as exc:
        raise PolicyError(f"Cannot read policy file {exc}.") from None
    except ValueError:
        raise PolicyError(f"{path}:1: the policy file is larger than 1 MiB.") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise PolicyError(f"{path}:{line}: the policy file is not UTF-8 text.") from None
    return parse_policy(text, source=str(path), base_dir=path.parent)


def parse_policy(
    text: str, *, source: str = "<policy>", base_dir: Path | None = None
) -> ModelPolicy:
    """Validate policy ``text``; see :func:`load_policy`.

    Raises:
        PolicyError: if the text is not a valid policy.
    """
    doc = load_document(text, source)
    if not isinstance(doc.value, dict):
        raise PolicyError(
            doc.error(
                (),
                "the policy must be a YAML mapping with apiVersion, kind, metadata "
                "and spec, not a " + _type_name(doc.value) + ".",
            )
        )
    problems = schema_problems(doc)
    if problems:
        raise _combined(problems)
    return _build(doc, base_dir or Path())


def _combined(problems: list[tuple[int, str]]) -> PolicyError:
    problems.sort(key=lambda p: p[0])
    lines = [p[1] for p in problems[:10]]
    if len(problems) > 10:
        lines.append(f"... and {len(problems) - 10} more problems.")
    error = PolicyError("\n".join(lines))
    error.problems = [p[1] for p in problems]  # type: ignore[attr-defined]
    return error


# --- JSON Schema ----------------------------------------------------------------------------


def policy_schema() -> dict[str, Any]:
    """The JSON Schema shipped with mlchain for ``ModelPolicy`` documents."""
    text = resources.files("mlchain").joinpath("schemas/policy.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@lru_cache(maxsize=1)
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(policy_schema())


def schema_problems(doc: Document) -> list[tuple[int, str]]:
    """Validate ``doc`` against the JSON Schema; return ``(line, "file:line: message")`` pairs."""
    errors = list(_validator().iter_errors(doc.value))
    typed = {tuple(e.absolute_path) for e in errors if e.validator == "type"}
    problems: list[tuple[int, str]] = []
    seen: set[str] = set()
    for error in errors:
        path: Path_ = tuple(error.absolute_path)
        if error.validator != "type" and path in typed:
            continue  # the type error at this place says it all
        where, message = _describe(error, path)
        text = doc.error(where, message)
        if text not in seen:
            seen.add(text)
            problems.append((doc.line(where), text))
    return problems


def _dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the document"


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "mapping"


_EXPECTED = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "boolean": "true or false",
    "integer": "an integer",
}


def _describe(error: Any, path: Path_) -> tuple[Path_, str]:
    kind = error.validator
    value = error.validator_value
    instance = error.instance
    where = _dotted(path)
    if kind == "additionalProperties" and isinstance(instance, dict):
        allowed = list(error.schema.get("properties", {}))
        extra = sorted(k for k in instance if k not in allowed)
        key = extra[0] if extra else ""
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return (
            (*path, key),
            f"unknown field '{key}' in {where}{hint}; allowed fields: {', '.join(allowed)}.",
        )
    if kind == "required" and isinstance(instance, dict):
        missing = [k for k in value if k not in instance]
        fix = (
            " Add at least one authority (keyless, key or certificateChain)."
            if (missing == ["authorities"])
            else ""
        )
        return path, f"{where} is missing the required field '{missing[0]}'.{fix}"
    if kind == "const":
        got = json.dumps(instance, default=str)
        field_name = path[-1] if path else ""
        if field_name == "apiVersion":
            return path, f"apiVersion must be '{API_VERSION}', got {got}."
        if field_name == "kind":
            return path, f"kind must be '{KIND}', got {got}."
        return path, f"{where} must be {json.dumps(value)}, got {got}."
    if kind == "enum":
        choices = ", ".join(str(v) for v in value)
        return path, f"{where} must be one of {choices}; got {json.dumps(instance, default=str)}."
    if kind == "type":
        expected = _EXPECTED.get(str(value), str(value))
        return path, f"{where} must be {expected}, not a {_type_name(instance)}."
    if kind == "minItems":
        if path and path[-1] == "authorities":
            return path, (
                "spec.authorities is empty: list at least one authority (keyless, key or "
                "certificateChain); a policy that trusts no signer would allow nothing."
            )
        return path, f"{where} must list at least {value} entr{'y' if value == 1 else 'ies'}."
    if kind == "pattern":
        if path and path[-2:-1] == ("allowGlobals",):
            return path, f"{where} must be a module.name such as collections.OrderedDict."
        return path, (
            f"{where} must be a lower-case name of letters, digits, '-' and '.' "
            f"(at most 63 characters), got {json.dumps(instance)}."
        )
    if kind == "oneOf" and isinstance(instance, dict):
        options = [next(iter(s.get("required", [""]))) for s in value]
        present = [o for o in options if o in instance]
        if not present:
            return path, f"{where} needs one of {', '.join(options)}."
        return (
            path,
            f"{where} must have exactly one of {', '.join(options)}, not {' and '.join(present)}.",
        )
    if kind == "not" and isinstance(instance, dict):
        return path, f"{where} may have subject or subjectRegExp, not both."
    if kind in {"maxLength", "maxItems", "maxProperties"}:
        return path, f"{where} is too long (limit {value})."
    if kind == "minLength":
        return path, f"{where} must not be empty."
    return path, f"{where}: {error.message}."


# --- semantic checks and building -----------------------------------------------------------


def _build(doc: Document, base_dir: Path) -> ModelPolicy:
    data: dict[str, Any] = doc.value
    spec: dict[str, Any] = data["spec"]
    problems: list[tuple[int, str]] = []

    def problem(path: Path_, message: str) -> None:
        problems.append((doc.line(path), doc.error(path, message)))

    authorities = _authorities(doc, spec["authorities"], base_dir, problem)
    names = {a.name for a in authorities}
    attestations: list[AttestationRequirement] = []
    for i, item in enumerate(spec.get("attestations", [])):
        path: Path_ = ("spec", "attestations", i)
        for ref in item.get("authorities", []):
            if ref not in names:
                problem(
                    (*path, "authorities"),
                    f"attestation refers to unknown authority '{ref}'; "
                    f"known authorities: {', '.join(sorted(names))}.",
                )
        attestations.append(
            AttestationRequirement(
                name=item.get("name", item["type"]),
                type=item["type"],
                predicate_type=item.get("predicateType", DEFAULT_PREDICATE_TYPES[item["type"]]),
                authorities=tuple(item.get("authorities", [])),
            )
        )
    _unique(
        [a.name for a in attestations],
        ("spec", "attestations"),
        "attestation",
        problem,
        " (two attestations of the same type need distinct names)",
    )
    validations = _validations(doc, spec.get("validations", []), problem)
    scan = None
    if "scan" in spec:
        raw = spec["scan"]
        fail_on = raw.get("failOn", "medium")
        scan = ScanRequirement(
            fail_on=None if fail_on == "never" else Severity.parse(fail_on),
            allow_globals=frozenset(raw.get("allowGlobals", [])),
            strict=bool(raw.get("strict", False)),
            accept_attestation=bool(raw.get("acceptAttestation", False)),
        )
    if problems:
        raise _combined(problems)
    metadata = data["metadata"]
    return ModelPolicy(
        name=metadata["name"],
        source=doc.source,
        authorities=tuple(authorities),
        attestations=tuple(attestations),
        validations=tuple(validations),
        scan=scan,
        description=metadata.get("description"),
    )


def _unique(names: list[str], base: Path_, what: str, problem: Any, extra: str = "") -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            problem(
                (*base, i, "name"), f"duplicate {what} name '{name}'{extra}; names must be unique."
            )
        seen.add(name)


def _authorities(
    doc: Document, items: list[dict[str, Any]], base_dir: Path, problem: Any
) -> list[Authority]:
    out: list[Authority] = []
    for i, item in enumerate(items):
        path: Path_ = ("spec", "authorities", i)
        kind = next(k for k in ("keyless", "key", "certificateChain") if k in item)
        body = item[kind]
        name = item.get("name", f"authority-{i}")
        sub = (*path, kind)
        regexp = body.get("subjectRegExp")
        if regexp is not None:
            try:
                re.compile(regexp)
            except re.error as exc:
                problem(
                    (*sub, "subjectRegExp"),
                    f"subjectRegExp is not a valid regular "
                    f"expression ({exc}); it must match the whole subject (Python re syntax).",
                )
        if kind == "keyless":
            issuer = body["issuer"]
            if not re.match(r"^https://[^\s/]+", issuer) and not re.match(
                r"^http://(127\.0\.0\.1|localhost)(:\d+)?(/|$)", issuer
            ):
                problem(
                    (*sub, "issuer"),
                    f"issuer must be an https:// URL (the OIDC issuer, e.g. "
                    f"https://token.actions.githubusercontent.com), got {issuer!r}.",
                )
            out.append(
                Authority(
                    name, kind, issuer=issuer, subject=body.get("subject"), subject_regexp=regexp
                )
            )
        elif kind == "key":
            pem, where = _read_pem(body, base_dir, doc, sub, problem)
            fingerprint = _key_fingerprint(pem, where, sub, problem) if pem else None
            out.append(Authority(name, kind, key_pem=pem, key_fingerprint=fingerprint))
        else:
            pem, where = _read_pem(body, base_dir, doc, sub, problem)
            subjects, prints = _chain(pem, where, sub, problem) if pem else ((), ())
            out.append(
                Authority(
                    name,
                    kind,
                    subject=body.get("subject"),
                    subject_regexp=regexp,
                    chain_path=base_dir / body["path"],
                    chain_subjects=subjects,
                    chain_fingerprints=prints,
                )
            )
    _unique([a.name for a in out], ("spec", "authorities"), "authority", problem)
    return out


def _read_pem(
    body: dict[str, Any], base_dir: Path, doc: Document, sub: Path_, problem: Any
) -> tuple[bytes | None, str]:
    if "data" in body:
        return str(body["data"]).encode("utf-8"), "data"
    from mlchain.inputfile import read_regular_file

    target = base_dir / body["path"]
    try:  # regular files only, bounded: a FIFO or /dev/zero must neither block nor read forever
        return read_regular_file(target, limit=1 << 20), str(target)
    except (OSError, ValueError) as exc:  # ValueError: special file, too large, NUL in the path
        reason = getattr(exc, "strerror", None) or exc
        problem(
            (*sub, "path"),
            f"cannot read {target}: {reason}; paths are relative to the policy file.",
        )
        return None, str(target)


def _key_fingerprint(pem: bytes, where: str, sub: Path_, problem: Any) -> str | None:
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        problem(
            sub,
            f"{where} is not a PEM public key ({exc}); give the signer's public key "
            "('-----BEGIN PUBLIC KEY-----'), never a private key.",
        )
        return None
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def _chain(
    pem: bytes, where: str, sub: Path_, problem: Any
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        problem(sub, f"{where} is not a PEM certificate chain ({exc}).")
        return (), ()
    subjects = tuple(c.subject.rfc4514_string() for c in certs)
    prints = tuple(
        hashlib.sha256(c.public_bytes(serialization.Encoding.DER)).hexdigest() for c in certs
    )
    return subjects, prints


def _validations(doc: Document, items: list[dict[str, Any]], problem: Any) -> list[Validation]:
    from mlchain.policy.celcore import engine

    cel = engine()
    out: list[Validation] = []
    for i, item in enumerate(items):
        path: Path_ = ("spec", "validations", i, "expression")
        expression = item["expression"]
        name = item.get("name", f"validation-{i}")
        try:
            program = cel.compile(expression)
        except ValueError as exc:
            detail = str(exc).split("ERROR: <input>:", 1)[-1].split("\n", 1)[0]
            problem(path, f"CEL expression does not compile: {detail.strip()}.")
            continue
        bound = set(_MACRO_BINDING.findall(expression))
        variables = set(program.variables())
        unknown_vars = sorted(variables - bound - set(INPUT_NAMES) - _TYPE_NAMES)
        functions = (
            {f for f in program.functions() if f[:1].isalpha()}
            - CORE_CEL_FUNCTIONS
            - set(FUNCTIONS)
        )
        if unknown_vars:
            problem(
                path,
                f"CEL expression uses unknown variable '{unknown_vars[0]}'; the inputs "
                f"are {', '.join(INPUT_NAMES)}.",
            )
        if functions:
            problem(
                path,
                f"CEL expression calls unknown function '{sorted(functions)[0]}'; "
                f"available: core CEL and {', '.join(sorted(FUNCTIONS))} (see docs/policy.md).",
            )
        out.append(
            Validation(
                name,
                expression,
                item["message"],
                doc.line(path),
                frozenset(variables & set(INPUT_NAMES)),
                program,
            )
        )
    names = [item.get("name", f"validation-{i}") for i, item in enumerate(items)]
    _unique(names, ("spec", "validations"), "validation", problem)
    return out
