"""The CycloneDX 1.6 ML-BOM: schema-valid, deterministic, carrying the model's real facts."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from fixtures.gen_hfmodel import GGUF_PARAMETER_COUNT, PARAMETER_COUNT

from helpers import FIXTURES
from mlchain.errors import InputError, UsageError
from mlchain.output.json import report_to_dict
from mlchain.provenance.statement import digest_model, model_digest
from mlchain.sbom import cyclonedx as cdx
from mlchain.sbom.modelinfo import extract_model_info
from mlchain.scan import ScanOptions, scan_paths

BENIGN = FIXTURES / "hfmodel" / "benign"
NS = "{http://cyclonedx.org/schema/bom/1.6}"
REV = "d" * 40


def validate(text: str) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert error is None, str(error)


def bom_for(path: Path, inputs: cdx.BomInputs | None = None) -> tuple[dict[str, Any], str]:
    digests = digest_model(path)
    info = extract_model_info(path, list(digests))
    doc = cdx.build_bom(digests, info, inputs or cdx.BomInputs())
    return doc, cdx.render_json(doc)


def props(items: list[dict[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in items:
        out.setdefault(item["name"], []).append(item["value"])
    return out


def test_hf_checkpoint_bom_is_valid_and_carries_the_model_card() -> None:
    doc, text = bom_for(BENIGN / "tiny-llama", cdx.BomInputs(hf_repo=f"acme/tiny-llama@{REV}"))
    validate(text)
    model = doc["metadata"]["component"]
    assert model["type"] == "machine-learning-model"
    assert model["bom-ref"] == "model"
    assert model["purl"] == f"pkg:huggingface/acme/tiny-llama@{REV}"
    assert model["licenses"] == [{"license": {"id": "Apache-2.0"}}]
    card = model["modelCard"]
    params = card["modelParameters"]
    assert params["modelArchitecture"] == "LlamaForCausalLM"
    assert params["architectureFamily"] == "llama"
    assert params["task"] == "text-generation"
    assert params["datasets"] == [
        {"ref": "dataset:mlchain-fixtures/tiny-corpus"},
        {"ref": "dataset:mlchain-fixtures/tiny-instructions"},
    ]
    assert props(card["properties"])["mlchain:model:parameterCount"] == [str(PARAMETER_COUNT)]
    metrics = card["quantitativeAnalysis"]["performanceMetrics"]
    assert {
        "type": "perplexity",
        "value": "12.5",
        "slice": "text-generation, Tiny Corpus (test)",
    } in metrics
    assert all(c["bom-ref"] != "model" for c in doc["components"])


def test_every_file_is_a_component_with_its_oms_digest() -> None:
    path = BENIGN / "tiny-llama"
    doc, _ = bom_for(path)
    digests = digest_model(path)
    files = {c["name"]: c for c in doc["components"] if c["type"] == "file"}
    assert set(files) == set(digests)
    for name, component in files.items():
        assert component["bom-ref"] == f"file:{name}"
        assert component["hashes"] == [{"alg": "SHA-256", "content": digests[name]}]
    model_hash = doc["metadata"]["component"]["hashes"][0]["content"]
    assert model_hash == model_digest(digests)


def test_base_models_and_datasets_are_dependencies() -> None:
    doc, _ = bom_for(BENIGN / "tiny-llama", cdx.BomInputs(datasets=("extra/set",)))
    (model_dep,) = [d for d in doc["dependencies"] if d["ref"] == "model"]
    assert model_dep["dependsOn"] == [
        "base-model:mlchain-fixtures/tiny-base",
        "dataset:extra/set",
        "dataset:mlchain-fixtures/tiny-corpus",
        "dataset:mlchain-fixtures/tiny-instructions",
    ]
    by_ref = {c["bom-ref"]: c for c in doc["components"]}
    base = by_ref["base-model:mlchain-fixtures/tiny-base"]
    assert base["type"] == "machine-learning-model"
    assert base["purl"] == "pkg:huggingface/mlchain-fixtures/tiny-base"
    data = by_ref["dataset:mlchain-fixtures/tiny-corpus"]
    assert data["type"] == "data"
    assert data["data"] == [{"type": "dataset", "name": "mlchain-fixtures/tiny-corpus"}]


def test_gguf_bom() -> None:
    doc, text = bom_for(BENIGN / "tiny.gguf")
    validate(text)
    model = doc["metadata"]["component"]
    assert model["name"] == "tiny-gguf"
    assert model["licenses"] == [{"license": {"id": "MIT"}}]
    card = model["modelCard"]
    assert card["modelParameters"]["modelArchitecture"] == "llama"
    assert card["modelParameters"]["datasets"] == [{"ref": "dataset:tiny-corpus"}]
    p = props(card["properties"])
    assert p["mlchain:model:parameterCount"] == [str(GGUF_PARAMETER_COUNT)]
    assert p["mlchain:model:quantization"] == ["Q8_0"]
    # A single-file model's hash is the file's own sha256.
    assert model["hashes"][0]["content"] == digest_model(BENIGN / "tiny.gguf")["tiny.gguf"]


def test_output_is_byte_identical_across_runs_and_serial_tracks_content(tmp_path: Path) -> None:
    _, first = bom_for(BENIGN / "tiny-llama")
    _, second = bom_for(BENIGN / "tiny-llama")
    assert first == second
    assert '"timestamp"' not in first
    copy = tmp_path / "tiny-llama"
    shutil.copytree(BENIGN / "tiny-llama", copy)
    doc_same, _ = bom_for(copy)
    assert doc_same["serialNumber"] == json.loads(first)["serialNumber"]
    (copy / "config.json").write_text("{}")
    doc_changed, _ = bom_for(copy)
    assert doc_changed["serialNumber"] != doc_same["serialNumber"]
    assert doc_same["serialNumber"].startswith("urn:uuid:")


def test_timestamp_only_from_the_caller() -> None:
    moment = dt.datetime(2026, 1, 31, 12, tzinfo=dt.timezone.utc)
    doc, text = bom_for(BENIGN / "tiny.gguf", cdx.BomInputs(timestamp=moment))
    validate(text)
    assert doc["metadata"]["timestamp"] == "2026-01-31T12:00:00Z"


def test_scan_report_becomes_properties() -> None:
    path = BENIGN / "tiny-llama"
    report = report_to_dict(scan_paths([path], ScanOptions(jobs=1)))
    doc, text = bom_for(path, cdx.BomInputs(scan_report=report))
    validate(text)
    p = props(doc["metadata"]["component"]["properties"])
    assert p["mlchain:scan:verdict"] == ["no-findings"]
    assert p["mlchain:scan:maxSeverity"] == ["none"]
    assert p["mlchain:scan:filesNotInReport"] == ["0"]
    assert p["mlchain:scan:findings:critical"] == ["0"]
    shard = next(c for c in doc["components"] if c["name"].endswith("00001-of-00002.safetensors"))
    assert props(shard["properties"])["mlchain:scan:format"] == ["safetensors"]


def test_scan_report_of_another_model_is_visible() -> None:
    report = report_to_dict(scan_paths([BENIGN / "tiny.gguf"], ScanOptions(jobs=1)))
    doc, _ = bom_for(BENIGN / "tiny-llama", cdx.BomInputs(scan_report=report))
    p = props(doc["metadata"]["component"]["properties"])
    assert p["mlchain:scan:filesNotInReport"] == [str(len(digest_model(BENIGN / "tiny-llama")))]


def test_scan_report_with_findings() -> None:
    counts = {"critical": 1, "high": 0, "medium": 0, "low": 0, "info": 0}
    result = {
        "location": {"path": "tiny.gguf"},
        "format": "gguf",
        "max_severity": "critical",
        "findings": [{}],
        "skipped": None,
    }
    report = {
        "tool": {"version": "9"},
        "summary": {"files": 1, "not_scanned": 0, "max_severity": "critical", "findings": counts},
        "results": [result],
    }
    doc, _ = bom_for(BENIGN / "tiny.gguf", cdx.BomInputs(scan_report=report))
    p = props(doc["metadata"]["component"]["properties"])
    assert p["mlchain:scan:verdict"] == ["findings"]
    file_props = props(next(c for c in doc["components"] if c["type"] == "file")["properties"])
    assert file_props["mlchain:scan:maxSeverity"] == ["critical"]


def test_xml_has_the_same_serial_and_the_model_card() -> None:
    path = BENIGN / "tiny-llama"
    digests = digest_model(path)
    info = extract_model_info(path, list(digests))
    doc = cdx.build_bom(digests, info, cdx.BomInputs())
    xml = cdx.render_xml(digests, info, cdx.BomInputs())
    assert xml == cdx.render_xml(digests, info, cdx.BomInputs())
    root = ET.fromstring(xml)
    assert root.get("serialNumber") == doc["serialNumber"]
    assert root.find(f"{NS}metadata/{NS}timestamp") is None
    card = root.find(f"{NS}metadata/{NS}component/{NS}modelCard")
    assert card is not None
    assert card.findtext(f"{NS}modelParameters/{NS}modelArchitecture") == "LlamaForCausalLM"
    names = {p.get("name"): p.text for p in card.iter(f"{NS}property")}
    assert names["mlchain:model:parameterCount"] == str(PARAMETER_COUNT)
    files = [c for c in root.iter(f"{NS}component") if c.get("type") == "file"]
    assert len(files) == len(digests)


def test_xml_follows_the_1_6_xsd_when_lxml_is_available() -> None:
    pytest.importorskip("lxml")
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.xml import XmlValidator

    path = BENIGN / "tiny-llama"
    digests = digest_model(path)
    xml = cdx.render_xml(digests, extract_model_info(path, list(digests)), cdx.BomInputs())
    assert XmlValidator(SchemaVersion.V1_6).validate_str(xml) is None


def test_license_other_uses_the_card_name_and_link(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text(
        "---\nlicense: other\nlicense_name: acme-model-license\n"
        "license_link: https://acme.example/license\n---\n"
    )
    doc, text = bom_for(tmp_path)
    validate(text)
    assert doc["metadata"]["component"]["licenses"] == [
        {"license": {"name": "acme-model-license", "url": "https://acme.example/license"}}
    ]


@pytest.mark.parametrize("bad", ["acme", "acme/x/y", "acme/x@", "https://hf.co/a/b"])
def test_bad_hf_repo(bad: str) -> None:
    with pytest.raises(UsageError):
        cdx.parse_hf_repo(bad)


def test_load_scan_report_validates_the_shape(tmp_path: Path) -> None:
    good = tmp_path / "scan.json"
    report = report_to_dict(scan_paths([BENIGN / "tiny.gguf"], ScanOptions(jobs=1)))
    good.write_text(json.dumps(report))
    assert cdx.load_scan_report(good)["summary"]["files"] == 1
    bad = tmp_path / "bad.json"
    bad.write_text('{"summary": {}}')
    with pytest.raises(UsageError, match="not a mlchain JSON report"):
        cdx.load_scan_report(bad)
    bad.write_text("not json")
    with pytest.raises(UsageError, match="not JSON"):
        cdx.load_scan_report(bad)


def test_considerations_in_json_and_xml() -> None:
    path = BENIGN / "tiny.gguf"
    inputs = cdx.BomInputs(use_cases=("offline tests",), limitations=("knows 100 tokens",))
    doc, text = bom_for(path, inputs)
    validate(text)
    assert doc["metadata"]["component"]["modelCard"]["considerations"] == {
        "useCases": ["offline tests"],
        "technicalLimitations": ["knows 100 tokens"],
    }
    digests = digest_model(path)
    xml = cdx.render_xml(digests, extract_model_info(path, list(digests)), inputs)
    root = ET.fromstring(xml)
    considerations = root.find(f"{NS}metadata/{NS}component/{NS}modelCard/{NS}considerations")
    assert considerations is not None
    assert considerations.findtext(f"{NS}useCases/{NS}useCase") == "offline tests"
    assert considerations.findtext(f"{NS}technicalLimitations/{NS}technicalLimitation") == (
        "knows 100 tokens"
    )


def test_hostile_card_strings_stay_plain_json(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text(
        "---\nlicense: mit\ndatasets:\n- \"x\\u001b[31mred\"\n- '<script>'\n"
        "model-index:\n- name: '</bom>'\n  results: []\n---\n"
    )
    doc, text = bom_for(tmp_path)
    validate(text)
    refs = {c["bom-ref"] for c in doc["components"]}
    assert refs >= {"dataset:<script>", "dataset:xred"}  # ANSI sequences are stripped
    digests = digest_model(tmp_path)
    xml = cdx.render_xml(digests, extract_model_info(tmp_path, list(digests)), cdx.BomInputs())
    root = ET.fromstring(xml)
    assert root.find(f"{NS}metadata/{NS}component/{NS}name").text == "</bom>"  # type: ignore[union-attr]


def test_control_characters_in_file_names(tmp_path: Path) -> None:
    (tmp_path / "esc\x1bname.bin").write_bytes(b"x")
    digests = digest_model(tmp_path)
    info = extract_model_info(tmp_path, list(digests))
    doc = cdx.build_bom(digests, info, cdx.BomInputs())
    assert [c["name"] for c in doc["components"]] == ["esc\x1bname.bin"]  # JSON escapes it
    with pytest.raises(InputError, match=r"XML 1\.0"):
        cdx.render_xml(digests, info, cdx.BomInputs())
