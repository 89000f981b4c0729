"""One test per TorchScript code technique (mlchain issue #14, item 1).

TorchScript code runs on ``torch.jit.load`` (and on ``torch.load`` of such an archive, which hands
it to ``torch.jit.load``; CVE-2025-32434 showed ``weights_only=True`` does not stop that:
https://nvd.nist.gov/vuln/detail/CVE-2025-32434). TorchScript cannot import Python, so the
techniques below are the operators and constructs it *can* reach. Each crafted archive is a real
``torch.jit.save`` output (``fixtures/torchscript/benign``) with one code member replaced; nothing
is ever loaded.
"""

from __future__ import annotations

import io
import pickle
import sys
import zipfile
from pathlib import Path

from mlchain.models import ArtifactFormat, Severity

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "scan"))
from test_torchscript import BENIGN, crafted, replace_member

from container_helpers import scan_bytes


def _worst(findings: list, rule: str) -> Severity | None:
    return max((f.severity for f in findings if f.rule_id == rule), default=None)


def test_torchscript_from_file_reads_host_files() -> None:
    # aten::from_file maps any host file into a tensor the model can return (mlchain issue #14).
    findings = crafted('    _x = torch.from_file("/etc/passwd", False, 64)\n')
    assert _worst(findings, "torchscript-dangerous-op") is Severity.CRITICAL


def test_torchscript_save_writes_host_files() -> None:
    # aten::save writes a pickle of any value to any path: drop a file the next load runs.
    findings = crafted('    torch.save(input, "/tmp/payload.pt")\n')
    assert _worst(findings, "torchscript-dangerous-op") is Severity.CRITICAL


def test_torchscript_save_as_tensor_method() -> None:
    # Method calls bind to aten ops with the receiver as first argument: (x).save(path).
    findings = crafted('    _y = (input).save("/tmp/payload.pt")\n')
    assert _worst(findings, "torchscript-dangerous-op") is Severity.CRITICAL


def test_torchscript_ops_aten_spelling() -> None:
    findings = crafted('    _x = ops.aten.from_file("/etc/shadow", False, 64)\n')
    assert _worst(findings, "torchscript-dangerous-op") is Severity.CRITICAL


def test_torchscript_getattr_spelling() -> None:
    findings = crafted('    _s = getattr(torch, "save")\n')
    assert _worst(findings, "torchscript-dangerous-op") is Severity.CRITICAL


def test_torchscript_computed_getattr() -> None:
    findings = crafted('    _s = getattr(torch, "sa" + "ve")\n')
    assert _worst(findings, "torchscript-python-reach") is Severity.HIGH


def test_torchscript_debugprims_load_tensor() -> None:
    findings = crafted(
        '    _t = ops.debugprims.load_tensor("/etc/passwd", [1], [1], dtype=6, device=None)\n'
    )
    assert _worst(findings, "torchscript-dangerous-op") is Severity.CRITICAL


def test_torchscript_unknown_native_namespace() -> None:
    # A custom namespace needs a native library; a planted .so registered as ops.evil.run.
    findings = crafted("    _r = ops.evil.run(input)\n")
    assert _worst(findings, "torchscript-unknown-op") is Severity.HIGH


def test_torchscript_distributed_collective() -> None:
    findings = crafted('    _r = ops._c10d_functional.all_reduce(input, "sum", "0")\n')
    assert _worst(findings, "torchscript-dangerous-op") is Severity.HIGH


def test_torchscript_python_import_statement() -> None:
    findings = crafted("    import os\n")
    assert _worst(findings, "torchscript-python-reach") is Severity.HIGH


def test_torchscript_dunder_import_name() -> None:
    findings = crafted('    _m = __import__("os")\n')
    assert _worst(findings, "torchscript-python-reach") is Severity.HIGH


def test_torchscript_dunder_attribute_walk() -> None:
    findings = crafted("    _g = self.__class__.__init__.__globals__\n")
    assert _worst(findings, "torchscript-python-reach") is Severity.HIGH


def test_torchscript_unparsable_code_member() -> None:
    findings = crafted("    torch.linear(input,\n")
    assert _worst(findings, "parse-error") is Severity.HIGH


def test_torchscript_operator_hidden_in_comment_with_form_feed() -> None:
    # Python's tokenizer keeps "\x0c" inside the comment; another tokenizer may end the line there.
    findings = crafted('    pass # \x0c torch.save(input, "/tmp/x")\n')
    found = {(f.rule_id, f.severity) for f in findings}
    assert ("torchscript-python-reach", Severity.HIGH) in found
    assert ("torchscript-dangerous-op", Severity.HIGH) in found


def test_torchscript_operator_hidden_in_string() -> None:
    findings = crafted('    _s = "torch.from_file"\n')
    assert _worst(findings, "torchscript-dangerous-op") is Severity.HIGH


def test_torchscript_mobile_bytecode_operator_table() -> None:
    # The lite interpreter runs bytecode.pkl's operator table, not code/: check it too.
    table = pickle.dumps(("operators", (("aten::linear", ""), ("aten::from_file", ""))), protocol=2)
    data = replace_member(BENIGN / "blocks_mobile.ptl", "bytecode.pkl", table)
    findings = scan_bytes(data, ArtifactFormat.TORCHSCRIPT)
    assert _worst(findings, "torchscript-dangerous-op") is Severity.CRITICAL


def test_torchscript_deflated_code_member_is_still_read() -> None:
    src = crafted.__globals__["linear_with"]('    torch.save(input, "/tmp/x")\n')
    out = io.BytesIO()
    with zipfile.ZipFile(BENIGN / "blocks_scripted.pt") as a, zipfile.ZipFile(out, "w") as b:
        for info in a.infolist():
            body = src if info.filename == crafted.__globals__["LINEAR"] else a.read(info)
            info.compress_type = zipfile.ZIP_DEFLATED
            b.writestr(info, body)
    findings = scan_bytes(out.getvalue(), ArtifactFormat.TORCHSCRIPT)
    assert _worst(findings, "torchscript-dangerous-op") is Severity.CRITICAL


def test_torchscript_parameter_named_ops_does_not_hide_ops_elsewhere() -> None:
    # A name bound in one function must not hide the global namespace in another.
    body = "    _r = ops.evil.run(input)\n"
    source = crafted.__globals__["linear_with"](body).decode() + (
        "  def other(self: __torch__.torch.nn.modules.linear.Linear, ops: int) -> int:\n"
        "    return ops\n"
    )
    data = replace_member(
        BENIGN / "blocks_scripted.pt", crafted.__globals__["LINEAR"], source.encode()
    )
    findings = scan_bytes(data, ArtifactFormat.TORCHSCRIPT)
    assert _worst(findings, "torchscript-unknown-op") is Severity.HIGH
    assert _worst(findings, "torchscript-python-reach") is Severity.HIGH


def test_torchscript_mobile_archive_without_data_pkl() -> None:
    # _load_for_lite_interpreter needs bytecode.pkl, not data.pkl: such a zip is not "torch" by
    # its member names, and its operator table must still be read.
    table = pickle.dumps(("operators", (("aten::from_file", ""),)), protocol=2)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("m/bytecode.pkl", table)
        archive.writestr("m/version", b"8\n")
    findings = scan_bytes(out.getvalue())
    assert _worst(findings, "torchscript-dangerous-op") is Severity.CRITICAL


def test_torchscript_unknown_torchbind_class() -> None:
    # __torch__.torch.classes.<ns>.<Class> is native code registered by a library.
    findings = crafted("    _c = __torch__.torch.classes.evil.Runner()\n")
    assert _worst(findings, "torchscript-unknown-op") is Severity.HIGH


def test_torchscript_distributed_torchbind_class() -> None:
    findings = crafted("    _c = __torch__.torch.classes.c10d.ProcessGroup\n")
    assert _worst(findings, "torchscript-dangerous-op") is Severity.HIGH
