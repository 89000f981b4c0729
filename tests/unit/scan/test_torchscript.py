"""TorchScript code members: real saves pass, operators outside torch's registry are reported.

The benign archives are real ``torch.jit`` saves made by ``fixtures/gen_torchscript.py``
(torch 2.13.0); crafted variants replace one code member of such an archive.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from container_helpers import scan_bytes
from mlchain.models import ArtifactFormat, Location, Severity
from mlchain.scan import scan_paths
from mlchain.scan.torchscript import check_bytecode, check_code, op_table, pickle_strings

BENIGN = Path(__file__).resolve().parents[3] / "fixtures" / "torchscript" / "benign"
LOC = Location(PurePosixPath("m.pt"))
BASE = BENIGN / "blocks_scripted.pt"
with zipfile.ZipFile(BASE) as _archive:
    LINEAR = next(n for n in _archive.namelist() if "/nn/modules/linear" in n and n.endswith(".py"))
"""The Linear module's code member in the small base archive the crafted variants start from."""


def replace_member(path: Path, suffix: str, data: bytes) -> bytes:
    """Rewrite the archive at ``path`` with the member ending in ``suffix`` replaced."""
    out = io.BytesIO()
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        found = False
        for info in src.infolist():
            body = src.read(info)
            if info.filename.endswith(suffix):
                body, found = data, True
            dst.writestr(info, body)
        assert found, suffix
    return out.getvalue()


def linear_with(body: str) -> bytes:
    """The Linear module's code member, with ``body`` as its forward."""
    return (
        "class Linear(Module):\n"
        '  __parameters__ = ["weight", "bias", ]\n'
        "  __buffers__ = []\n"
        "  weight : Tensor\n"
        "  bias : Tensor\n"
        "  training : bool\n"
        "  def forward(self: __torch__.torch.nn.modules.linear.Linear,\n"
        "    input: Tensor) -> Tensor:\n"
        f"{body}"
        "    return torch.linear(input, self.weight, self.bias)\n"
    ).encode()


def crafted(body: str) -> list:
    data = replace_member(BASE, LINEAR, linear_with(body))
    return scan_bytes(data, ArtifactFormat.TORCHSCRIPT)


@pytest.mark.parametrize("name", sorted(p.name for p in BENIGN.iterdir()))
def test_real_torchscript_saves_pass_the_default_gate(name: str) -> None:
    report = scan_paths([BENIGN / name])
    assert report.results[0].format is ArtifactFormat.TORCHSCRIPT
    loud = [f for f in report.findings if f.severity >= Severity.MEDIUM]
    assert loud == []
    assert "torchscript-code" in {f.rule_id for f in report.findings}


def test_benign_fixture_set_covers_scripted_traced_frozen_and_mobile() -> None:
    names = {p.name for p in BENIGN.iterdir()}
    assert {
        "blocks_scripted.pt",
        "conv_traced.pt",
        "blocks_frozen.pt",
        "blocks_mobile.ptl",
    } <= names
    with zipfile.ZipFile(BENIGN / "blocks_mobile.ptl") as archive:
        assert any(n.endswith("bytecode.pkl") for n in archive.namelist())


def test_unmodified_member_rewrite_stays_clean() -> None:
    # The crafting helper itself must not introduce findings.
    findings = crafted("")
    assert not [f for f in findings if f.severity >= Severity.MEDIUM]


def test_op_table_knows_the_operators_nn_modules_emit() -> None:
    aten = op_table()["aten"]
    for op in ("linear", "conv2d", "lstm", "__is__", "format", "save", "from_file"):
        assert op in aten
    assert "RaiseException" in op_table()["prim"]


def test_unknown_aten_operator_is_medium() -> None:
    findings = check_code(b"def f(x: Tensor) -> Tensor:\n  return torch.no_such_op(x)\n", LOC)
    assert [(f.rule_id, f.severity) for f in findings] == [
        ("torchscript-unknown-op", Severity.MEDIUM)
    ]


def test_locally_bound_names_are_not_free_names() -> None:
    source = (
        b"def f(x: Tensor, n: int) -> Tensor:\n  y = x\n  for i in range(n):\n    y = y\n"
        b"  return y\n"
    )
    assert check_code(source, LOC) == []


def test_torchvision_operators_are_known() -> None:
    assert (
        check_code(
            b"def f(b: Tensor, s: Tensor) -> Tensor:\n  return ops.torchvision.nms(b, s, 0.5)\n",
            LOC,
        )
        == []
    )


def test_pickle_strings_reads_length_prefixed_names() -> None:
    data = b"\x8c\x0caten::linear\x94X\x0f\x00\x00\x00aten::from_file"
    assert [text for _, text in pickle_strings(data)] == ["aten::linear", "aten::from_file"]


def test_mobile_bytecode_with_registered_ops_is_clean() -> None:
    assert check_bytecode(b"\x8c\x0caten::linear\x8c\x10prim::TupleIndex", LOC) == []


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_code_bytes_never_raise(data: bytes) -> None:
    for f in check_code(data, LOC):
        assert f.rule_id


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="torchops._()[]:\n xy=\"'#\\", max_size=120))
def test_arbitrary_code_text_never_raises(text: str) -> None:
    check_code(text.encode(), LOC)


def _code_members() -> list[tuple[str, str]]:
    found = []
    for archive_path in sorted(BENIGN.glob("*.pt")):
        with zipfile.ZipFile(archive_path) as archive:
            for name in archive.namelist():
                text = archive.read(name).decode("utf-8", "replace")
                if name.endswith(".py") and re.search(r"\btorch\.\w+\(", text):
                    found.append((archive_path.name, name))
    return found


@pytest.mark.parametrize(("archive", "member"), _code_members())
def test_every_real_call_site_is_seen(archive: str, member: str) -> None:
    # Property over real code: turning any torch.<op>( call into torch.from_file( is caught.
    with zipfile.ZipFile(BENIGN / archive) as handle:
        text = handle.read(member).decode()
    for match in list(re.finditer(r"\btorch\.(\w+)\(", text))[:5]:
        mutated = text[: match.start(1)] + "from_file" + text[match.end(1) :]
        findings = check_code(mutated.encode(), LOC)
        assert ("torchscript-dangerous-op", Severity.CRITICAL) in {
            (f.rule_id, f.severity) for f in findings
        }, match.group(0)
