"""Core value types shared by scanners, output formats, policy and the CLI.

Everything here is an immutable, slotted dataclass or an enum so that results can cross process
boundaries (the scan pool pickles *our own* result objects, never model content) and be compared
and sorted deterministically.
"""

from __future__ import annotations

import enum
import posixpath
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath

SCHEMA_VERSION = "1.0"
"""Version of the JSON report; changes only additively within a major version."""

CLEAN_DISCLAIMER = "no known-unsafe constructs found; this is not proof of safety"
"""What a report without findings means, and what it does not (every output format says it)."""


@enum.unique
class Severity(enum.IntEnum):
    """How bad a finding is. Ordered, so ``max()`` and ``>=`` comparisons are correct."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        """Lower-case name used in every output format."""
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        """Parse a lower- or upper-case severity name.

        Raises:
            ValueError: if ``text`` names no severity.
        """
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown severity {text!r}; expected one of {names}") from None


@enum.unique
class Confidence(enum.IntEnum):
    """How sure the scanner is that the finding is real."""

    LOW = 0
    MEDIUM = 1
    HIGH = 2

    @property
    def label(self) -> str:
        """Lower-case name used in every output format."""
        return self.name.lower()


@enum.unique
class ArtifactFormat(str, enum.Enum):
    """Formats recognised by content detection (see ``mlchain.scan.detect``).

    A ``str`` enum is fine here: formats are never ordered.
    """

    PICKLE = "pickle"
    PYTORCH_ZIP = "pytorch-zip"
    PYTORCH_LEGACY = "pytorch-legacy"
    PYTORCH_TAR = "pytorch-tar"
    TORCHSCRIPT = "torchscript"
    NUMPY = "numpy"
    NUMPY_ZIP = "numpy-npz"
    JOBLIB = "joblib"
    GZIP = "gzip"
    BZIP2 = "bzip2"
    XZ = "xz"
    ZLIB = "zlib"
    SEVEN_ZIP = "7z"
    SAFETENSORS = "safetensors"
    SAFETENSORS_INDEX = "safetensors-index"
    ONNX = "onnx"
    GGUF = "gguf"
    KERAS = "keras"
    ZIP = "zip"
    TAR = "tar"
    HF_CONFIG = "hf-config"
    TOKENIZER_CONFIG = "tokenizer-config"
    PYTHON = "python"
    SAVEDMODEL = "tf-savedmodel"
    TF_GRAPHDEF = "tf-graphdef"
    KERAS_METADATA = "keras-metadata"
    TF_DATA = "tf-data"
    """TensorFlow checkpoint shards and index, ``fingerprint.pb``: tensor bytes, no code path."""
    HDF5 = "hdf5"
    TFLITE = "tflite"
    SKOPS = "skops"
    ML_DATA = "ml-data"
    """Recognised model data without a code path: msgpack weights (Flax, spaCy), SentencePiece,
    CatBoost ``.cbm``, XGBoost UBJSON."""
    MODEL_UNSUPPORTED = "model-unsupported"
    """The name promises a model format mlchain cannot read (``model-unsupported`` finding)."""
    LFS_POINTER = "lfs-pointer"
    EMPTY = "empty"
    DATA = "data"
    """Known-inert or unrecognised content (text, images, JSON that is not model config)."""


@dataclass(frozen=True, slots=True, order=True)
class Location:
    """Where a finding is: a file relative to the scan root, optionally a member and offset."""

    path: PurePosixPath
    member: str | None = None
    """Archive member path (``archive/data.pkl``), nested members joined with ``!``."""
    offset: int | None = None
    """Byte offset within the file or member, when known."""
    root: str | None = field(default=None, compare=False)
    """The scan root as the user would find it: relative to the current folder, or absolute
    when outside it (``models``, ``.``, ``/srv/m``); ``None`` for remote sources. Not part of
    equality or order: ``path`` stays relative to the root, which is what signatures and
    attestations name, and :meth:`file` adds the root for people and CI annotations."""

    def file(self) -> str:
        """The file as the user would find it: the root joined with ``path``, normalised."""
        if self.root is None:
            return str(self.path)
        return posixpath.normpath(posixpath.join(self.root, str(self.path)))

    def display(self) -> str:
        """Render ``file[!member][@offset]`` for humans."""
        text = self.file()
        if self.member:
            text += f"!{self.member}"
        if self.offset is not None:
            text += f"@{self.offset}"
        return text

    def with_member(self, member: str, offset: int | None = None) -> Location:
        """Return a location for ``member`` inside this one (members nest with ``!``)."""
        joined = f"{self.member}!{member}" if self.member else member
        return Location(self.path, joined, offset, self.root)

    def at(self, offset: int | None) -> Location:
        """Return the same location at another byte offset."""
        return Location(self.path, self.member, offset, self.root)

    def under(self, root: str | None) -> Location:
        """Return the same location under another display root."""
        return Location(self.path, self.member, self.offset, root)


@dataclass(frozen=True, slots=True)
class Finding:
    """One observation about an artifact, graded by severity and confidence."""

    rule_id: str
    severity: Severity
    confidence: Confidence
    message: str
    """Plain text, one sentence, no markup."""
    location: Location
    evidence: str | None = None
    """Triggering fragment, already sanitised and truncated by the scanner."""

    def sort_key(self) -> tuple[str, str, int, str, int, str]:
        """Deterministic ordering: path, member, offset, rule, severity, message."""
        loc = self.location
        return (
            str(loc.path),
            loc.member or "",
            loc.offset if loc.offset is not None else -1,
            self.rule_id,
            -int(self.severity),
            self.message,
        )


@dataclass(frozen=True, slots=True)
class ScanResult:
    """The outcome for one file under the scan root."""

    location: Location
    format: ArtifactFormat
    findings: tuple[Finding, ...] = ()
    skipped: str | None = None
    """Reason the file was not (fully) scanned; nothing is ever skipped silently."""
    size: int | None = None
    sha256: str | None = None
    """Only filled in when a scanner had to read the whole file anyway, or a cache computed it."""

    @property
    def max_severity(self) -> Severity | None:
        """Highest severity among the findings, or ``None`` when there are none."""
        return max((f.severity for f in self.findings), default=None)

    def under(self, root: str | None) -> ScanResult:
        """Return this result with ``root`` as the display root of every location in it."""
        # Built directly, not with dataclasses.replace: this runs once per file of every scan.
        findings = tuple(replace(f, location=f.location.under(root)) for f in self.findings)
        location = self.location.under(root)
        return ScanResult(location, self.format, findings, self.skipped, self.size, self.sha256)


@dataclass(frozen=True, slots=True)
class Suppressed:
    """A finding a reviewed suppression or a baseline took out of the verdict.

    Kept for the record: ``by`` is the suppression's source (``.mlchain.yaml#2``) or
    ``baseline``.
    """

    finding: Finding
    by: str
    reason: str


@dataclass(frozen=True, slots=True)
class ScanReport:
    """Everything one ``scan`` run learned, sorted for deterministic output."""

    results: tuple[ScanResult, ...]
    roots: tuple[str, ...]
    tool_version: str
    allowlist_additions: tuple[str, ...] = ()
    """Globals the user allowed explicitly (flag or policy), shown in every report."""
    schema_version: str = SCHEMA_VERSION
    metadata: dict[str, str] = field(default_factory=dict)
    allowlist_version: str = ""
    """Version of the pickle allowlist the verdicts were made with (set by ``scan_paths``)."""
    suppressed: tuple[Suppressed, ...] = ()
    """Findings taken out by suppressions or a baseline; not in ``findings``, never silent."""

    @property
    def findings(self) -> tuple[Finding, ...]:
        """All findings of all results, in report order."""
        return tuple(f for r in self.results for f in r.findings)

    @property
    def max_severity(self) -> Severity | None:
        """Highest severity in the report, or ``None`` when there is no finding."""
        return max((f.severity for f in self.findings), default=None)

    @property
    def not_scanned(self) -> tuple[ScanResult, ...]:
        """Results that were skipped (unsupported, special file, LFS pointer, ...)."""
        return tuple(r for r in self.results if r.skipped is not None)

    def exceeds(self, threshold: Severity | None, *, strict: bool = False) -> bool:
        """Whether the report should fail a gate at ``threshold`` (``None`` means never).

        With ``strict``, any file that was not scanned also fails the gate.
        """
        if strict and self.not_scanned:
            return True
        if threshold is None:
            return False
        return any(f.severity >= threshold for f in self.findings)

    def counts(self) -> dict[Severity, int]:
        """Number of findings per severity (every severity present, zero included)."""
        counts = dict.fromkeys(Severity, 0)
        for finding in self.findings:
            counts[finding.severity] += 1
        return counts
