"""Zip-family, tar, compressed and legacy containers through the dispatcher."""

from __future__ import annotations

import bz2
import gzip
import io
import pickle
import tarfile

import pytest
from fixtures.gen_containers import Member, build_tar, build_zip, payload, tar_file

from container_helpers import BENIGN, ctx, rules, scan_bytes
from mlchain.models import ArtifactFormat as F
from mlchain.models import Severity
from mlchain.scan.base import ScanContext
from mlchain.scan.containers import dispatch

TORCH = (BENIGN / "torch_state_dict.pt").read_bytes()
CRITICAL = Severity.CRITICAL


def torch_members() -> list[Member]:
    import zipfile

    with zipfile.ZipFile(io.BytesIO(TORCH)) as z:
        return [Member(i.filename, z.read(i)) for i in z.infolist()]


def test_sniff_formats() -> None:
    assert dispatch.sniff(TORCH) is F.PYTORCH_ZIP
    assert dispatch.sniff(gzip.compress(b"x")) is F.GZIP
    assert dispatch.sniff(bz2.compress(b"x")) is F.BZIP2
    assert dispatch.sniff(payload(2)) is F.PICKLE
    assert dispatch.sniff(payload(0)) is F.PICKLE
    assert dispatch.sniff(b"\x93NUMPY\x01\x00") is F.NUMPY
    assert dispatch.sniff(b"7z\xbc\xaf\x27\x1c\x00\x04") is F.SEVEN_ZIP
    assert dispatch.sniff(b"hello world, just text") is None
    assert dispatch.sniff(b"") is None


def test_torch_storages_are_never_read(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlchain.scan.containers import zipscan

    read: list[str] = []
    real = zipscan.member_chunks

    def spy(buf, entry, **kw):  # type: ignore[no-untyped-def]
        read.append(entry.name)
        return real(buf, entry, **kw)

    monkeypatch.setattr(zipscan, "member_chunks", spy)
    members = [Member(m.name, m.data, method=8) for m in torch_members()]
    assert scan_bytes(build_zip(members), F.PYTORCH_ZIP) == []
    assert read
    assert not [n for n in read if "/data/" in n]


def test_payload_in_deflated_data_pkl() -> None:
    members = [
        Member(m.name, payload(2) if m.name.endswith("data.pkl") else m.data, method=8)
        for m in torch_members()
    ]
    assert "pickle-dangerous-call" in rules(scan_bytes(build_zip(members), F.PYTORCH_ZIP), CRITICAL)


def test_pickle_member_over_the_pickle_limit() -> None:
    data = build_zip([Member("archive/data.pkl", payload(2) + bytes(5000), method=8)])
    found = scan_bytes(data, F.PYTORCH_ZIP, context=ctx(max_pickle_bytes=1000))
    assert "scan-limit-exceeded" in rules(found)


def test_stored_member_over_the_limit() -> None:
    data = build_zip([Member("archive/data.pkl", payload(2) + bytes(5000))])
    found = scan_bytes(data, F.PYTORCH_ZIP, context=ctx(max_pickle_bytes=1000))
    assert rules(found) == {"scan-limit-exceeded"}


def test_unsupported_method_is_reported() -> None:
    data = bytearray(build_zip([Member("evil.pkl", payload(2))]))
    data[8:10] = (99).to_bytes(2, "little")  # local method
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 10 : cd + 12] = (99).to_bytes(2, "little")
    assert "archive-unsupported" in rules(scan_bytes(bytes(data), F.ZIP))


def test_corrupt_deflate_member_is_a_parse_error() -> None:
    data = bytearray(build_zip([Member("evil.pkl", payload(2) * 20, method=8)]))
    data[40:60] = b"\xff" * 20
    assert "parse-error" in rules(scan_bytes(bytes(data), F.ZIP))


def test_wrong_declared_size_is_malformed() -> None:
    data = build_zip([Member("a.pkl", payload(2), usize=3)])
    assert "archive-malformed" in rules(scan_bytes(data, F.ZIP))


def test_duplicate_names_are_suspicious_and_both_scanned() -> None:
    data = build_zip([Member("a.pkl", b"N."), Member("a.pkl", payload(2))])
    found = scan_bytes(data, F.ZIP)
    assert "archive-suspicious-member" in rules(found)
    assert "pickle-dangerous-call" in rules(found)


def test_torchscript_code_is_reported() -> None:
    data = build_zip(
        [
            Member("m/data.pkl", b"\x80\x02N."),
            Member("m/constants.pkl", b"\x80\x02).", method=8),
            Member("m/code/__torch__/m.py", b"def forward(self): pass\n"),
        ]
    )
    assert dispatch.sniff(data) is F.TORCHSCRIPT
    found = scan_bytes(data, F.TORCHSCRIPT)
    assert rules(found) == {"torchscript-code"}
    assert found[0].severity is Severity.INFO  # operators checked: mlchain issue #14, item 1


def test_npz_members_are_parsed() -> None:
    npy = (BENIGN / "numpy_float32.npy").read_bytes()
    assert scan_bytes(build_zip([Member("a.npy", npy, method=8)]), F.NUMPY_ZIP) == []


def test_text_and_images_are_ignored_unknown_binaries_are_noted() -> None:
    data = build_zip(
        [
            Member("README.md", b"hi"),
            Member("logo.png", b"\x89PNG\r\n\x1a\n" + bytes(10)),
            Member("blob.bin", bytes(range(256))),
            Member("model.gguf", b"GGUF\x03\x00\x00\x00" + bytes(16)),
        ]
    )
    found = scan_bytes(data, F.ZIP)
    assert [(f.rule_id, f.severity, f.location.member) for f in found] == [
        ("not-scanned", Severity.INFO, "blob.bin"),
        ("not-scanned", Severity.INFO, "model.gguf"),
    ]
    assert "GGUF" in found[1].message


def test_unscanned_notes_are_capped() -> None:
    data = build_zip([Member(f"b{i}.bin", bytes(range(256))) for i in range(30)])
    found = scan_bytes(data, F.ZIP)
    assert len(found) == 21
    assert "10 more" in found[-1].message


def test_declared_bomb_member_is_not_decompressed() -> None:
    data = build_zip([Member("w.bin", bytes(8 << 20), method=12)])
    assert rules(scan_bytes(data, F.ZIP)) == {"archive-bomb"}


def test_decompressed_total_budget() -> None:
    inner = build_zip([Member("a.pkl", payload(2) + bytes(200_000), method=8)])
    found = scan_bytes(inner, F.ZIP, context=ctx(max_decompressed_bytes=10_000))
    assert "archive-bomb" in rules(found)


def test_nesting_limit() -> None:
    data = payload(2)
    for i in range(4):
        data = build_zip([Member(f"l{i}.pkl.zip", data)])
    assert "pickle-dangerous-call" in rules(scan_bytes(data, F.ZIP, context=ctx(max_nesting=4)))
    found = scan_bytes(data, F.ZIP, context=ctx(max_nesting=2))
    assert "archive-bomb" in rules(found)
    assert "pickle-dangerous-call" not in rules(found)


def test_prepended_pickle_before_zip_is_scanned() -> None:
    data = b"JUNKJUNK" + build_zip([Member("a.txt", b"x")])
    assert "archive-malformed" in rules(scan_bytes(data, F.ZIP))
    evil = payload(0) + build_zip([Member("a.txt", b"x")])
    # A text-protocol pickle followed by a zip: the zip scanner reaches the pickle.
    assert "pickle-dangerous-call" in rules(scan_bytes(evil, F.ZIP))


def test_tar_members_links_and_devices() -> None:
    link = tarfile.TarInfo("l")
    link.type = tarfile.SYMTYPE
    link.linkname = "../../x"
    fifo = tarfile.TarInfo("f")
    fifo.type = tarfile.FIFOTYPE
    data = build_tar([tar_file("/abs.pkl", payload(2)), (link, b""), (fifo, b"")])
    found = scan_bytes(data, F.TAR)
    assert "pickle-dangerous-call" in rules(found)
    suspicious = [f for f in found if f.rule_id == "archive-suspicious-member"]
    assert len(suspicious) == 3


def test_truncated_tar_is_a_parse_error() -> None:
    data = build_tar([tar_file("a.pkl", payload(2) * 100)])
    assert "parse-error" in rules(scan_bytes(data[:700], F.TAR))


def test_torch_tar_walks_storages_and_tensors() -> None:
    storage = b"\x80\x02(X\x01\x00\x00\x000X\x03\x00\x00\x00cpuctorch\nDoubleStorage\nt."
    tensor_key = b"\x80\x02X\x01\x00\x00\x00k."
    # torch writes the tensor class here (torch.DoubleTensor); the VM's allowlist decides on it.
    tensor_ref = b"\x80\x02X\x01\x00\x00\x000N\x86."
    raw_tensor = (1).to_bytes(4, "little") + bytes(4) + bytes(16) + bytes(8)
    data = build_tar(
        [
            tar_file("sys_info", b"\x80\x02}."),
            tar_file("pickle", b"\x80\x02}."),
            tar_file(
                "storages", b"\x80\x02K\x01." + storage + (1).to_bytes(8, "little") + bytes(8)
            ),
            tar_file("tensors", b"\x80\x02K\x01." + tensor_key + tensor_ref + raw_tensor),
        ]
    )
    assert dispatch.sniff(data) is F.PYTORCH_TAR
    assert scan_bytes(data, F.PYTORCH_TAR) == []


def test_torch_tar_with_unknown_storage_type_falls_back() -> None:
    data = build_tar(
        [
            tar_file("sys_info", b"\x80\x02}."),
            tar_file("pickle", b"\x80\x02}."),
            tar_file("storages", b"\x80\x02K\x01.\x80\x02N." + payload(2)),
            tar_file("tensors", b"\x80\x02K\x00."),
        ]
    )
    found = scan_bytes(data, F.PYTORCH_TAR)
    assert {"parse-error", "pickle-dangerous-call"} <= rules(found)


def test_legacy_truncated() -> None:
    data = (BENIGN / "torch_state_dict_legacy.pt").read_bytes()
    assert scan_bytes(data, F.PYTORCH_LEGACY) == []
    assert "parse-error" in rules(scan_bytes(data[:30], F.PYTORCH_LEGACY))


def test_legacy_storage_bytes_are_not_read() -> None:
    data = (BENIGN / "torch_state_dict_legacy.pt").read_bytes()
    # Storage bytes replaced by a payload: torch never unpickles them, and neither do we.
    from container_helpers import LOC
    from mlchain.scan.containers.pickles import scan_pickle_stream

    end = scan_pickle_stream(data, LOC, ctx(), max_pickles=5).end
    assert scan_bytes(data[:end] + payload(2), F.PYTORCH_LEGACY) == []


@pytest.mark.parametrize("fmt", [F.GZIP, F.BZIP2, F.XZ, F.ZLIB])
def test_corrupt_compressed_stream(fmt: F) -> None:
    head = {F.GZIP: b"\x1f\x8b\x08\x00", F.BZIP2: b"BZh9", F.XZ: b"\xfd7zXZ\x00", F.ZLIB: b"x\x9c"}
    assert "parse-error" in rules(scan_bytes(head[fmt] + b"\xff" * 64, fmt))


def test_truncated_and_trailing_compressed() -> None:
    data = gzip.compress(payload(2) * 50)
    assert "parse-error" in rules(scan_bytes(data[:-12], F.GZIP))
    found = scan_bytes(bz2.compress(payload(2)) + b"trailing", F.BZIP2)
    assert "pickle-dangerous-call" in rules(found)


def test_compressed_text_is_not_scanned_info() -> None:
    found = scan_bytes(gzip.compress(b"plain text"), F.GZIP)
    assert rules(found) == {"not-scanned"}
    assert found[0].severity is Severity.INFO


def test_gzip_of_tar_of_pickle() -> None:
    data = gzip.compress(build_tar([tar_file("m/model.pkl", payload(2))]))
    found = scan_bytes(data, F.GZIP)
    assert "pickle-dangerous-call" in rules(found)
    assert any(f.location.member == "m/model.pkl" for f in found)


def test_seven_zip_is_unsupported_high() -> None:
    found = scan_bytes(b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(30), F.SEVEN_ZIP)
    assert rules(found) == {"archive-unsupported"}
    assert found[0].severity is Severity.HIGH


def test_out_of_time_is_reported() -> None:
    context = ctx(max_seconds_per_file=0)  # type: ignore[arg-type]
    context.started -= 10
    assert rules(scan_bytes(TORCH, F.PYTORCH_ZIP, context=context)) == {"scan-limit-exceeded"}


JIT_GLOBAL = b"\x80\x02c__torch__.torch.nn\nLinear\n)\x81."


def test_torchscript_native_globals_are_not_python_imports() -> None:
    data = build_zip(
        [
            Member("m/data.pkl", JIT_GLOBAL),
            Member("m/constants.pkl", b"\x80\x02)."),
            Member("m/code/__torch__/m.py", b"def forward(self): pass\n"),
        ]
    )
    assert rules(scan_bytes(data, F.TORCHSCRIPT)) == {"torchscript-code"}


def test_torchscript_archive_still_reports_python_payloads() -> None:
    data = build_zip(
        [
            Member("m/data.pkl", payload(2)),
            Member("m/constants.pkl", b"\x80\x02)."),
            Member("m/code/__torch__/m.py", b"def forward(self): pass\n"),
        ]
    )
    assert "pickle-dangerous-call" in rules(scan_bytes(data, F.TORCHSCRIPT), CRITICAL)


def test_torch_globals_outside_torchscript_are_reported() -> None:
    # Without constants.pkl torch.load unpickles data.pkl in Python: __torch__ is no module there.
    data = build_zip([Member("m/data.pkl", JIT_GLOBAL), Member("m/version", b"3\n")])
    assert rules(scan_bytes(data, F.PYTORCH_ZIP), Severity.HIGH)


def test_encrypted_member_is_unsupported_but_its_bytes_are_still_scanned() -> None:
    data = build_zip([Member("a.pkl", payload(2), flags=0x0001)])
    found = scan_bytes(data, F.ZIP)
    assert {"archive-unsupported", "archive-malformed", "pickle-dangerous-call"} <= rules(found)


def test_lz4_member_is_unsupported() -> None:
    data = build_zip([Member("model.joblib", b"\x04\x22\x4d\x18" + bytes(40))])
    assert rules(scan_bytes(data, F.ZIP)) == {"archive-unsupported"}


def test_time_limit_during_decompression() -> None:
    calls = iter([False, False] + [True] * 1000)

    class Clock(ScanContext):
        def out_of_time(self) -> bool:
            return next(calls)

    context = Clock(ctx().options)
    found = scan_bytes(gzip.compress(bytes(range(256)) * 40_000), F.GZIP, context=context)
    assert rules(found) == {"scan-limit-exceeded"}


def test_legacy_magic_in_every_protocol() -> None:
    from mlchain.scan.containers.legacy import MAGIC_NUMBER, is_legacy_torch

    for protocol in range(6):
        head = pickle.dumps(MAGIC_NUMBER, protocol=protocol) + pickle.dumps(1001, protocol)
        assert is_legacy_torch(head), protocol
        assert dispatch.sniff(head) is F.PYTORCH_LEGACY
    assert not is_legacy_torch(pickle.dumps(MAGIC_NUMBER + 1, protocol=2))


def test_legacy_pickles_do_not_share_a_memo() -> None:
    # Five separate unpicklers: a BINGET in a later pickle cannot see an earlier memo.
    first = b"\x80\x02X\x02\x00\x00\x00osq\x00."
    later = b"\x80\x02h\x00."  # BINGET 0 with an empty memo: broken in torch's reading
    data = pickle.dumps(0x1950A86A20F9469CFC6C, 2) + first + later * 3
    found = scan_bytes(data, F.PYTORCH_LEGACY)
    assert "parse-error" in rules(found)


def test_encrypted_pickle_member_fails_the_gate_at_medium() -> None:
    # mlchain issue #14, item 5: no stock loader opens it, so medium (not high); still fails.
    data = build_zip([Member("a.pkl", b"\x80\x02N.", flags=0x0001)])
    found = [f for f in scan_bytes(data, F.ZIP) if f.rule_id == "archive-unsupported"]
    assert [f.severity for f in found] == [Severity.MEDIUM]


def test_encrypted_data_member_is_only_not_scanned() -> None:
    # mlchain issue #14, item 5: an encrypted member no loader unpickles is "not scanned" (info).
    data = build_zip([Member("notes.bin", bytes(range(64)), flags=0x0001)])
    found = scan_bytes(data, F.ZIP)
    assert "archive-unsupported" not in rules(found)
    encrypted = [f for f in found if "encrypted" in f.message]
    assert [(f.rule_id, f.severity) for f in encrypted] == [("not-scanned", Severity.INFO)]
