"""A CycloneDX 1.6 ML-BOM for one model: what it is, what it is made of, what its scan found.

Layout (documented in ``docs/sbom.md``):

- ``metadata.component``: the model, type ``machine-learning-model``, bom-ref ``model``, with its
  digest, purl (``pkg:huggingface/org/name@commit`` when known), licences, ``modelCard`` and the
  scan verdict as ``mlchain:scan:*`` properties. It sits in metadata, not in ``components``,
  where cyclonedx-python-lib would rewrite its bom-ref.
- ``components``: every file (type ``file``, bom-ref ``file:<name>``, SHA-256), every base model
  (``base-model:<name>``) and dataset (``dataset:<name>``).
- ``dependencies``: the model depends on its base models and datasets.

cyclonedx-python-lib 11 has no model-card classes, so the BOM is built with the library and the
``modelCard`` (and the datasets' ``data`` entries) are added to its JSON, or as elements to its XML.
Output is deterministic: the serial number is a UUID derived from the BOM's own content (which
includes every file digest) and the timestamp is ``SOURCE_DATE_EPOCH`` when given, else omitted.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlchain import __version__
from mlchain.errors import InputError, UsageError
from mlchain.intoto import CYCLONEDX_BOM
from mlchain.provenance.statement import model_digest, rfc3339
from mlchain.sbom.modelinfo import ModelInfo

if TYPE_CHECKING:
    from cyclonedx.model.bom import Bom

MODEL_REF = "model"
BOM_PREDICATE_TYPE = CYCLONEDX_BOM
"""The in-toto predicate type of a CycloneDX BOM attestation (as in-toto's predicate registry)."""
SERIAL_NAMESPACE = uuid.UUID("4d6c6368-6169-6e2d-626f-6d2d73657269")
"""Namespace of the uuid5 serial numbers (fixed forever: changing it changes every serial)."""

_HF_ID = re.compile(r"^[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-]+$")
_HF_URL = re.compile(
    r"^https://huggingface\.co/(?:datasets/)?([A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-]+)/?$"
)
_HF_REPO_ARG = re.compile(r"^([A-Za-z0-9_.\-]+)/([A-Za-z0-9_.\-]+)(?:@([A-Za-z0-9_.\-]+))?$")

_IO_BY_TASK = {
    "text-generation": ("text", "text"),
    "text2text-generation": ("text", "text"),
    "fill-mask": ("text", "text"),
    "text-classification": ("text", "label"),
    "token-classification": ("text", "labels per token"),
    "question-answering": ("text", "text span"),
    "feature-extraction": ("text", "embedding vector"),
    "sentence-similarity": ("text", "similarity score"),
    "image-classification": ("image", "label"),
    "object-detection": ("image", "bounding boxes"),
    "automatic-speech-recognition": ("audio", "text"),
    "text-to-image": ("text", "image"),
}


@dataclass(frozen=True, slots=True)
class BomInputs:
    """What the caller adds to the model's own facts."""

    hf_repo: str | None = None
    """``org/name[@rev]`` from ``--hf-repo``; overrides a Hugging Face cache path."""
    base_models: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()
    use_cases: tuple[str, ...] = ()
    limitations: tuple[str, ...] = ()
    scan_report: Mapping[str, Any] | None = None
    """A ``mlchain scan -f json`` report (already validated)."""
    timestamp: dt.datetime | None = None


def parse_hf_repo(text: str) -> tuple[str, str | None]:
    """Split ``org/name[@rev]``.

    Raises:
        UsageError: on anything else.
    """
    match = _HF_REPO_ARG.fullmatch(text.strip())
    if not match:
        raise UsageError(f"--hf-repo expects org/name or org/name@revision, got {text!r}.")
    return f"{match.group(1)}/{match.group(2)}", match.group(3)


def build_bom(digests: Mapping[str, str], info: ModelInfo, inputs: BomInputs) -> dict[str, Any]:
    """Return the ML-BOM as a JSON document (a dict, CycloneDX 1.6)."""
    bom, card, datasets = _bom(digests, info, inputs)
    from cyclonedx.output.json import JsonV1Dot6

    document: dict[str, Any] = json.loads(_quietly(JsonV1Dot6(bom).output_as_string))
    metadata = document.setdefault("metadata", {})
    if inputs.timestamp is None:
        metadata.pop("timestamp", None)
    else:
        metadata["timestamp"] = rfc3339(inputs.timestamp)
    if card:
        metadata["component"]["modelCard"] = card
    for component in document.get("components", []):
        name = datasets.get(component.get("bom-ref", ""))
        if name is not None:
            component["data"] = [{"type": "dataset", "name": name}]
    document.pop("serialNumber", None)
    document["serialNumber"] = serial_number(document)
    return document


def bom_statement(digests: Mapping[str, str], document: Mapping[str, Any]) -> dict[str, Any]:
    """Wrap a BOM in an in-toto Statement v1 over the model's files (the OMS digests)."""
    from mlchain.provenance.statement import statement, subjects

    return statement(subjects(digests), BOM_PREDICATE_TYPE, document)


def serial_number(document: Mapping[str, Any]) -> str:
    """``urn:uuid:`` of a uuid5 over the canonical JSON of the BOM without its serial number."""
    content = {k: v for k, v in document.items() if k != "serialNumber"}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"urn:uuid:{uuid.uuid5(SERIAL_NAMESPACE, canonical)}"


def render_json(document: Mapping[str, Any]) -> str:
    """Deterministic JSON text of a BOM document."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render_xml(digests: Mapping[str, str], info: ModelInfo, inputs: BomInputs) -> str:
    """The same BOM as CycloneDX 1.6 XML, with the same serial number and model card."""
    import xml.etree.ElementTree as ET  # parses only the XML the library just wrote

    from cyclonedx.output.xml import XmlV1Dot6

    document = build_bom(digests, info, inputs)
    bom, card, _ = _bom(digests, info, inputs)
    bom.serial_number = uuid.UUID(document["serialNumber"].removeprefix("urn:uuid:"))
    if inputs.timestamp is not None:
        bom.metadata.timestamp = inputs.timestamp.astimezone(dt.timezone.utc).replace(microsecond=0)
    ns = "http://cyclonedx.org/schema/bom/1.6"
    ET.register_namespace("", ns)
    try:
        root = ET.fromstring(_quietly(XmlV1Dot6(bom).output_as_string))  # noqa: S314 (our own)
    except ET.ParseError:
        # The library writes control characters verbatim; XML 1.0 cannot carry them at all.
        raise InputError(
            "A file name contains control characters that XML 1.0 cannot represent.",
            hint="Use the JSON format (-f json), or rename the file.",
        ) from None
    metadata = root.find(f"{{{ns}}}metadata")
    assert metadata is not None
    if inputs.timestamp is None:
        for stamp in metadata.findall(f"{{{ns}}}timestamp"):
            metadata.remove(stamp)
    component = metadata.find(f"{{{ns}}}component")
    if card and component is not None:
        component.append(_card_xml(card, ns))
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _quietly(render: Callable[[], str]) -> str:
    # The library warns (UserWarning) when the model has no dependencies; a model without base
    # models or datasets is legitimate, and a warning would leak onto the user's stderr.
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return render()


# --- the BOM object -----------------------------------------------------------------------------


def _bom(
    digests: Mapping[str, str], info: ModelInfo, inputs: BomInputs
) -> tuple[Bom, dict[str, Any], dict[str, str]]:
    from cyclonedx.model import (
        ExternalReference,
        ExternalReferenceType,
        HashAlgorithm,
        HashType,
        Property,
        XsUri,
    )
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from packageurl import PackageURL

    repo, revision = info.hf_repo, info.hf_revision
    if inputs.hf_repo:
        repo, revision = parse_hf_repo(inputs.hf_repo)
    names = sorted(digests)
    if not names:
        raise InputError("The model has no files to describe (every file is ignored or empty).")
    digest = digests[names[0]] if len(names) == 1 else model_digest(digests)
    name = repo.split("/", 1)[1] if repo else (info.name or "model")
    purl = None
    if repo:
        org, repo_name = repo.split("/", 1)
        purl = PackageURL("huggingface", org, repo_name, revision)

    properties = [Property(name=k, value=v) for k, v in _model_properties(info, len(names))]
    report = inputs.scan_report
    per_file: dict[str, list[tuple[str, str]]] = {}
    if report is not None:
        scan_props, per_file = scan_properties(report, names)
        properties += [Property(name=k, value=v) for k, v in scan_props]
    model = Component(
        type=ComponentType.MACHINE_LEARNING_MODEL,
        name=name,
        version=revision,
        group=repo.split("/", 1)[0] if repo else None,
        bom_ref=MODEL_REF,
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=digest)],
        purl=purl,
        licenses=_licenses(info),
        properties=properties,
        external_references=(
            [
                ExternalReference(
                    type=ExternalReferenceType.DISTRIBUTION,
                    url=XsUri(f"https://huggingface.co/{repo}"),
                )
            ]
            if repo
            else None
        ),
    )
    bom = Bom()
    bom.metadata.component = model
    bom.metadata.tools.components.add(
        Component(type=ComponentType.APPLICATION, name="mlchain", version=__version__)
    )
    for file_name in names:
        bom.components.add(
            Component(
                type=ComponentType.FILE,
                name=file_name,
                bom_ref=f"file:{file_name}",
                hashes=[HashType(alg=HashAlgorithm.SHA_256, content=digests[file_name])],
                properties=[Property(name=k, value=v) for k, v in per_file.get(file_name, [])],
            )
        )
    dependencies = []
    for base in _unique((*info.base_models, *inputs.base_models)):
        ref = f"base-model:{base}"
        component = Component(
            type=ComponentType.MACHINE_LEARNING_MODEL,
            name=base,
            bom_ref=ref,
            purl=_hf_purl(base),
        )
        bom.components.add(component)
        dependencies.append(component)
    datasets: dict[str, str] = {}
    for dataset in _unique((*info.datasets, *inputs.datasets)):
        ref = f"dataset:{dataset}"
        hf_id = _hf_id(dataset)
        component = Component(
            type=ComponentType.DATA,
            name=dataset,
            bom_ref=ref,
            external_references=(
                [
                    ExternalReference(
                        type=ExternalReferenceType.DISTRIBUTION,
                        url=XsUri(f"https://huggingface.co/datasets/{hf_id}"),
                    )
                ]
                if hf_id
                else None
            ),
        )
        bom.components.add(component)
        dependencies.append(component)
        datasets[ref] = dataset
    if dependencies:
        bom.register_dependency(model, dependencies)
    return bom, model_card(info, inputs, list(datasets)), datasets


def _unique(values: Sequence[str]) -> list[str]:
    out: list[str] = []
    for value in values:
        if value and value not in out:
            out.append(value)
    return out


def _hf_id(text: str) -> str | None:
    if _HF_ID.fullmatch(text):
        return text
    match = _HF_URL.fullmatch(text)
    return match.group(1) if match else None


def _hf_purl(text: str) -> Any:
    from packageurl import PackageURL

    hf_id = _hf_id(text)
    if hf_id is None:
        return None
    org, name = hf_id.split("/", 1)
    return PackageURL("huggingface", org, name)


def _licenses(info: ModelInfo) -> list[Any]:
    from cyclonedx.contrib.license.factories import LicenseFactory
    from cyclonedx.model import XsUri
    from cyclonedx.model.license import DisjunctiveLicense

    factory = LicenseFactory()
    out: list[Any] = []
    for text in info.licenses:
        if text.lower() == "other" and info.license_name:
            url = XsUri(info.license_link) if info.license_link else None
            out.append(DisjunctiveLicense(name=info.license_name, url=url))
        else:
            out.append(factory.make_from_string(text))
    if len(out) > 1:  # CycloneDX allows either several licences or one expression
        out = [x for x in out if isinstance(x, DisjunctiveLicense)]
    return out


def _model_properties(info: ModelInfo, file_count: int) -> list[tuple[str, str]]:
    props = [("mlchain:model:files", str(file_count))]
    props.append(
        (
            "mlchain:model:digestMethod",
            "sha256 of the file" if file_count == 1 else "oms-sha256-of-sorted-file-digests",
        )
    )
    return props


def model_card(info: ModelInfo, inputs: BomInputs, dataset_refs: list[str]) -> dict[str, Any]:
    """The CycloneDX ``modelCard`` object (1.6 JSON shape) for the model's facts."""
    params: dict[str, Any] = {}
    if info.task:
        params["task"] = info.task
    if info.family:
        params["architectureFamily"] = info.family
    if info.architecture:
        params["modelArchitecture"] = info.architecture
    if dataset_refs:
        params["datasets"] = [{"ref": ref} for ref in dataset_refs]
    io = _IO_BY_TASK.get(info.task or "")
    if io:
        params["inputs"] = [{"format": io[0]}]
        params["outputs"] = [{"format": io[1]}]
    card: dict[str, Any] = {}
    if params:
        card["modelParameters"] = params
    if info.metrics:
        metrics = []
        for metric in info.metrics:
            entry = {"type": metric.type, "value": metric.value}
            slice_ = ", ".join(x for x in (metric.task, metric.dataset) if x)
            if slice_:
                entry["slice"] = slice_
            metrics.append(entry)
        card["quantitativeAnalysis"] = {"performanceMetrics": metrics}
    considerations: dict[str, Any] = {}
    if inputs.use_cases:
        considerations["useCases"] = list(inputs.use_cases)
    if inputs.limitations:
        considerations["technicalLimitations"] = list(inputs.limitations)
    if considerations:
        card["considerations"] = considerations
    props: list[tuple[str, str]] = []
    if info.parameter_count is not None:
        props.append(("mlchain:model:parameterCount", str(info.parameter_count)))
    if info.quantization:
        props.append(("mlchain:model:quantization", info.quantization))
    props += [("mlchain:model:dtype", d) for d in info.dtypes]
    props += [("mlchain:model:format", f) for f in info.formats]
    props += [("mlchain:model:language", x) for x in info.languages]
    if info.library:
        props.append(("mlchain:model:library", info.library))
    props += [("mlchain:model:problem", p) for p in info.problems]
    if props:
        card["properties"] = [{"name": k, "value": v} for k, v in props]
    return card


def scan_properties(
    report: Mapping[str, Any], names: Sequence[str]
) -> tuple[list[tuple[str, str]], dict[str, list[tuple[str, str]]]]:
    """Scan verdict properties for the model, and per-file properties keyed by file name.

    ``mlchain:scan:filesNotInReport`` counts model files the report does not cover: a report of
    another model, or of part of this one, cannot vouch for them.
    """
    summary = report.get("summary", {})
    findings = summary.get("findings", {})
    results = report.get("results", [])
    total = sum(int(v) for v in findings.values())
    props = [
        ("mlchain:scan:verdict", "no-findings" if total == 0 else "findings"),
        ("mlchain:scan:maxSeverity", str(summary.get("max_severity") or "none")),
        ("mlchain:scan:toolVersion", str(report.get("tool", {}).get("version", "unknown"))),
        ("mlchain:scan:filesScanned", str(summary.get("files", len(results)))),
        ("mlchain:scan:filesNotScanned", str(summary.get("not_scanned", 0))),
    ]
    props += [(f"mlchain:scan:findings:{sev}", str(count)) for sev, count in findings.items()]
    per_file: dict[str, list[tuple[str, str]]] = {}
    by_path: dict[str, list[Mapping[str, Any]]] = {}
    for result in results:
        by_path.setdefault(str(result.get("location", {}).get("path")), []).append(result)
    missing = 0
    for name in names:
        entries = by_path.get(name)
        if not entries:
            missing += 1
            continue
        count = sum(len(r.get("findings", [])) for r in entries)
        levels = [r.get("max_severity") for r in entries if r.get("max_severity")]
        file_props = [
            ("mlchain:scan:format", str(entries[0].get("format"))),
            ("mlchain:scan:findings", str(count)),
        ]
        if levels:
            order = ["info", "low", "medium", "high", "critical"]
            worst = max(levels, key=lambda x: order.index(x) if x in order else 5)
            file_props.append(("mlchain:scan:maxSeverity", str(worst)))
        skipped = [r.get("skipped") for r in entries if r.get("skipped")]
        if skipped:
            file_props.append(("mlchain:scan:notScanned", str(skipped[0])))
        per_file[name] = file_props
    props.append(("mlchain:scan:filesNotInReport", str(missing)))
    return props, per_file


def _card_xml(card: Mapping[str, Any], ns: str) -> Any:
    """Convert our modelCard JSON into the XSD's element layout (lists get singular wrappers)."""
    import xml.etree.ElementTree as ET

    def el(parent: Any, tag: str, text: str | None = None) -> Any:
        child = ET.SubElement(parent, f"{{{ns}}}{tag}")
        if text is not None:
            child.text = text
        return child

    root = ET.Element(f"{{{ns}}}modelCard")
    params = card.get("modelParameters")
    if params:
        node = el(root, "modelParameters")
        for key in ("task", "architectureFamily", "modelArchitecture"):
            if key in params:
                el(node, key, params[key])
        if "datasets" in params:
            datasets = el(node, "datasets")
            for item in params["datasets"]:
                el(datasets, "ref", item["ref"])
        for plural, singular in (("inputs", "input"), ("outputs", "output")):
            if plural in params:
                wrapper = el(node, plural)
                for item in params[plural]:
                    el(el(wrapper, singular), "format", item["format"])
    analysis = card.get("quantitativeAnalysis")
    if analysis:
        metrics = el(el(root, "quantitativeAnalysis"), "performanceMetrics")
        for metric in analysis["performanceMetrics"]:
            node = el(metrics, "performanceMetric")
            for key in ("type", "value", "slice"):
                if key in metric:
                    el(node, key, metric[key])
    considerations = card.get("considerations")
    if considerations:
        node = el(root, "considerations")
        for plural, singular in (
            ("useCases", "useCase"),
            ("technicalLimitations", "technicalLimitation"),
        ):
            if plural in considerations:
                wrapper = el(node, plural)
                for text in considerations[plural]:
                    el(wrapper, singular, text)
    if card.get("properties"):
        props = el(root, "properties")
        for prop in card["properties"]:
            el(props, "property", prop["value"]).set("name", prop["name"])
    return root


MAX_REPORT_BYTES = 256 << 20


def load_scan_report(path: Path) -> dict[str, Any]:
    """Read and validate a ``mlchain scan -f json`` report against the shipped schema.

    Raises:
        InputError: if the file cannot be read.
        UsageError: if it is not a valid mlchain JSON report.
    """
    from importlib import resources

    import jsonschema

    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_REPORT_BYTES + 1)
    except OSError as exc:
        raise InputError(f"Cannot read the scan report {path}: {exc.strerror or exc}.") from exc
    hint = "Pass the JSON written by `mlchain scan -f json -o scan.json`."
    if len(raw) > MAX_REPORT_BYTES:
        raise UsageError(f"The scan report {path} is larger than 256 MiB.", hint=hint)
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        raise UsageError(f"The scan report {path} is not JSON.", hint=hint) from None
    schema = json.loads(
        resources.files("mlchain").joinpath("schemas/report.schema.json").read_text("utf-8")
    )
    try:
        jsonschema.Draft202012Validator(schema).validate(document)
    except jsonschema.ValidationError as exc:
        raise UsageError(
            f"The scan report {path} is not a mlchain JSON report ({exc.message[:200]}).",
            hint=hint,
        ) from None
    return dict(document)
