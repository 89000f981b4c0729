"""Reading saved inputs and describing a model for `policy check`."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlchain.cli.policy import describe_path as describe_model
from mlchain.errors import InputError
from mlchain.policy import PolicyInputs, evaluate, parse_policy
from mlchain.policy.inputs import read_json_input
from policy_cases import BASE


def test_describe_model_lists_files_formats_and_escapes(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "w.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    (model / "empty.bin").write_bytes(b"")
    outside = tmp_path / "secret.txt"
    outside.write_text("x")
    (model / "link").symlink_to(outside)
    described = describe_model(model)
    files = {f["path"]: f for f in described["files"]}
    assert files["link"]["format"] == "symlink-escape"
    assert files["empty.bin"]["format"] == "empty"
    assert described["total_size"] == sum(f["size"] for f in described["files"])
    with pytest.raises(InputError):
        describe_model(tmp_path / "absent")


def test_read_json_input_rejects_oversized(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlchain.policy.inputs as inputs

    monkeypatch.setattr(inputs, "MAX_INPUT_BYTES", 10)
    path = tmp_path / "big.json"
    path.write_text('{"a": "0123456789"}')
    with pytest.raises(InputError, match="larger than"):
        read_json_input(path, "scan report")


def test_non_json_values_in_inputs_deny_validations() -> None:
    policy = parse_policy(
        BASE + "  validations:\n    - {expression: 'size(model.files) >= 0', message: m}\n",
        source="p.yaml",
    )
    decision = evaluate(policy, PolicyInputs(model={"files": {1, 2}}))
    (validation,) = [r for r in decision.results if r.kind == "validation"]
    assert not validation.passed
    assert "not plain JSON values" in validation.message
