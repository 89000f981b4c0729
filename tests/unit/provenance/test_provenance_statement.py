"""SLSA provenance statements: field rules, typed parameters, references, determinism."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import FIXTURES
from intoto_checks import check_resource_descriptor, check_slsa_provenance, floats_in
from mlchain.errors import InputError, UsageError
from mlchain.provenance import statement as s
from mlchain.provenance.context import GitSource, ci_context, local_context
from mlchain.signing.manifest import file_digests

MODEL = FIXTURES / "hfmodel" / "benign" / "tiny-llama"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _build(**inputs: object) -> dict[str, object]:
    digests = s.digest_model(MODEL)
    return s.build_provenance(digests, s.ProvenanceInputs(**inputs), local_context())  # type: ignore[arg-type]


def test_subjects_are_the_oms_manifest_files_sorted() -> None:
    doc = _build()
    check_slsa_provenance(doc)
    expected = file_digests(MODEL)
    names = [subject["name"] for subject in doc["subject"]]  # type: ignore[index, union-attr]
    assert names == sorted(expected)
    assert {x["name"]: x["digest"]["sha256"] for x in doc["subject"]} == expected  # type: ignore[index, union-attr]
    raw = (MODEL / "config.json").read_bytes()
    assert expected["config.json"] == hashlib.sha256(raw).hexdigest()


def test_model_signature_file_is_never_a_subject(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"w")
    (tmp_path / "model.sig").write_text("{}")
    assert list(s.digest_model(tmp_path)) == ["weights.bin"]
    with pytest.raises(InputError, match="no files to describe"):
        s.digest_model(tmp_path, ["weights.bin", "x"])


def test_typed_parameters_keep_ints_as_ints() -> None:
    params = s.parse_parameters(
        ["epochs=3", "lr=0.0003", "name=run-1", "flag=true", "layers=[1, 2]", "empty=", "n=NaN"]
    )
    assert params == {
        "epochs": 3,
        "lr": 0.0003,
        "name": "run-1",
        "flag": True,
        "layers": [1, 2],
        "empty": "",
        "n": "NaN",
    }
    assert type(params["epochs"]) is int
    doc = _build(parameters=params)
    text = s.dumps(doc)
    assert '"epochs": 3,' in text and '"epochs": 3.0' not in text
    assert floats_in(json.loads(text)) == [
        "$.predicate.buildDefinition.externalParameters.parameters.lr"
    ]


@pytest.mark.parametrize("bad", ["noequals", "=3", "a b=1", "x" * 200 + "=1"])
def test_bad_parameters_are_usage_errors(bad: str) -> None:
    with pytest.raises(UsageError):
        s.parse_parameters([bad])


def test_repeated_parameter_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="twice"):
        s.parse_parameters(["a=1", "a=2"])


def test_hf_base_model_with_commit_gets_a_git_commit_digest() -> None:
    rd = s.model_reference(f"hf://meta/llama@{COMMIT}", role="base-model")
    check_resource_descriptor(rd, "base")
    assert rd["uri"] == f"pkg:huggingface/meta/llama@{COMMIT}"
    assert rd["digest"] == {"gitCommit": COMMIT}
    assert rd["annotations"] == {"role": "base-model"}


def test_hf_reference_on_a_branch_has_no_digest() -> None:
    rd = s.model_reference("hf://datasets/org/data@main", role="dataset")
    check_resource_descriptor(rd, "ds")
    assert "digest" not in rd
    assert rd["uri"] == "https://huggingface.co/datasets/org/data/tree/main"


def test_uri_with_digest_suffix() -> None:
    rd = s.model_reference("s3://bucket/train.parquet@sha256:" + "AB" * 32, role="dataset")
    assert rd["uri"] == "s3://bucket/train.parquet"
    assert rd["digest"] == {"sha256": "ab" * 32}
    with pytest.raises(UsageError, match="wrong length"):
        s.model_reference("s3://bucket/x@sha256:abcd", role="dataset")


def test_local_folder_reference_uses_the_oms_model_digest() -> None:
    rd = s.model_reference(str(MODEL), role="base-model")
    check_resource_descriptor(rd, "local")
    digests = file_digests(MODEL)
    joined = b"".join(bytes.fromhex(digests[n]) for n in sorted(digests))
    assert rd["digest"] == {"sha256": hashlib.sha256(joined).hexdigest()}
    assert rd["name"] == "tiny-llama"


def test_local_file_reference_is_its_sha256(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_bytes(b'{"x": 1}\n')
    rd = s.model_reference(str(data), role="dataset")
    assert rd["digest"] == {"sha256": hashlib.sha256(b'{"x": 1}\n').hexdigest()}


def test_unknown_reference_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="neither a URI"):
        s.model_reference("no/such/path", role="dataset")


def test_config_parameter_records_path_and_digest(tmp_path: Path) -> None:
    config = tmp_path / "train.yaml"
    config.write_text("epochs: 3\n")
    param = s.config_parameter(config, "train.yaml")
    assert param == {
        "path": "train.yaml",
        "digest": {"sha256": hashlib.sha256(b"epochs: 3\n").hexdigest()},
    }
    with pytest.raises(InputError):
        s.config_parameter(tmp_path / "missing.yaml", "missing.yaml")


def test_full_statement_passes_the_field_rules(tmp_path: Path) -> None:
    config = tmp_path / "c.json"
    config.write_text("{}")
    inputs = s.ProvenanceInputs(
        config=s.config_parameter(config, "c.json"),
        parameters={"epochs": 3},
        base_model=f"hf://meta/llama@{COMMIT}",
        base_model_ref=s.model_reference(f"hf://meta/llama@{COMMIT}", role="base-model"),
        datasets=("hf://datasets/org/data",),
        dataset_refs=(s.model_reference("hf://datasets/org/data", role="dataset"),),
        started_on=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
        finished_on=dt.datetime(2026, 1, 2, 4, 4, 5, tzinfo=dt.timezone.utc),
    )
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/models",
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_SHA": COMMIT,
        "GITHUB_WORKFLOW_REF": "acme/models/.github/workflows/train.yml@refs/heads/main",
        "GITHUB_RUN_ID": "42",
        "GITHUB_RUN_ATTEMPT": "2",
    }
    context = ci_context(env)
    assert context is not None
    doc = s.build_provenance(s.digest_model(MODEL), inputs, context, source=None)
    check_slsa_provenance(doc)
    predicate = doc["predicate"]
    assert predicate["runDetails"]["metadata"] == {
        "invocationId": "https://github.com/acme/models/actions/runs/42/attempts/2",
        "startedOn": "2026-01-02T03:04:05Z",
        "finishedOn": "2026-01-02T04:04:05Z",
    }
    roles = [d["annotations"]["role"] for d in predicate["buildDefinition"]["resolvedDependencies"]]
    assert roles == ["training-code", "base-model", "dataset"]
    code = predicate["buildDefinition"]["resolvedDependencies"][0]
    assert code["uri"] == "git+https://github.com/acme/models@refs/heads/main"
    assert code["digest"] == {"gitCommit": COMMIT}


def test_ci_commit_wins_over_the_local_checkout() -> None:
    context = ci_context(
        {"GITHUB_ACTIONS": "true", "GITHUB_SHA": COMMIT, "GITHUB_REPOSITORY": "a/b"}
    )
    assert context is not None
    local = GitSource("f" * 40, None, None)
    doc = s.build_provenance(s.digest_model(MODEL), s.ProvenanceInputs(), context, source=local)
    deps = doc["predicate"]["buildDefinition"]["resolvedDependencies"]
    assert [d["digest"]["gitCommit"] for d in deps] == [COMMIT]


def test_local_checkout_without_remote_is_named_training_code() -> None:
    source = GitSource(COMMIT)
    doc = s.build_provenance(
        s.digest_model(MODEL), s.ProvenanceInputs(), local_context(), source=source
    )
    check_slsa_provenance(doc)
    (dep,) = doc["predicate"]["buildDefinition"]["resolvedDependencies"]
    assert dep == {
        "name": "training-code",
        "digest": {"gitCommit": COMMIT},
        "annotations": {"role": "training-code"},
    }


def test_no_timestamps_unless_given() -> None:
    doc = _build()
    assert "metadata" not in doc["predicate"]["runDetails"]  # type: ignore[index]
    assert "startedOn" not in s.dumps(doc)


def test_output_is_deterministic() -> None:
    assert s.dumps(_build(parameters={"b": 1, "a": 2})) == s.dumps(
        _build(parameters={"a": 2, "b": 1})
    )


def test_empty_model_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no files"):
        s.build_provenance({}, s.ProvenanceInputs(), local_context())


def test_builder_id_must_be_a_uri() -> None:
    assert s.check_builder_id("https://ci.example.com/x") == "https://ci.example.com/x"
    with pytest.raises(UsageError):
        s.check_builder_id("my laptop")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-31T12:00:00Z", "2026-01-31T12:00:00Z"),
        ("2026-01-31T13:00:00+01:00", "2026-01-31T12:00:00Z"),
        ("1769860800", "2026-01-31T12:00:00Z"),
    ],
)
def test_timestamps_normalise_to_utc(text: str, expected: str) -> None:
    assert s.rfc3339(s.parse_timestamp(text, "--x")) == expected


def test_bad_timestamp_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="ISO 8601"):
        s.parse_timestamp("yesterday", "--started-on")


def test_compare_subjects_reports_changed_missing_and_extra_files() -> None:
    digests = {"a": "1" * 64, "b": "2" * 64}
    doc = s.statement(s.subjects(digests), s.SLSA_PROVENANCE_V1, {})
    assert s.compare_subjects(doc, digests) == []
    problems = s.compare_subjects(doc, {"a": "3" * 64, "c": "4" * 64})
    assert problems[0].startswith("a: digest differs")
    assert "b: in the attestation but missing on disk" in problems
    assert "c: on disk but not covered by the attestation" in problems
    assert s.compare_subjects({"subject": []}, digests) == ["the statement has no subjects"]
    weird = {"subject": [{"name": "a"}, {"name": "a", "digest": {"sha256": "1" * 64}}]}
    assert "a subject has no name or no sha256 digest" in s.compare_subjects(weird, {"a": "1" * 64})


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40))
def test_parameter_values_never_crash(value: str) -> None:
    parsed = s.parse_parameters([f"k={value}"])
    json.dumps(parsed, allow_nan=False)


def test_subjects_equal_what_mlchain_sign_signs(tmp_path: Path) -> None:
    """The binding that matters: provenance subjects are the OMS signature's files."""
    import shutil

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from mlchain.signing.sign import SigningMethod, sign_model

    key = tmp_path / "key.pem"
    key.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    model = tmp_path / "model"
    shutil.copytree(MODEL, model)
    signed = sign_model(model, SigningMethod.key(key))  # writes model/model.sig
    assert (model / "model.sig").is_file()
    doc = s.build_provenance(s.digest_model(model), s.ProvenanceInputs(), local_context())
    assert {x["name"]: x["digest"]["sha256"] for x in doc["subject"]} == signed.files


def test_non_utf8_file_names_are_refused(tmp_path: Path) -> None:
    import os

    (tmp_path / "ok.bin").write_bytes(b"x")
    fd = os.open(os.path.join(os.fsencode(tmp_path), b"bad\xffname.bin"), os.O_CREAT | os.O_WRONLY)
    os.close(fd)
    with pytest.raises(InputError, match="not valid UTF-8"):
        s.digest_model(tmp_path)
    assert list(s.digest_model(tmp_path, ["bad\udcffname.bin"])) == ["ok.bin"]
