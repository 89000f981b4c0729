"""One test per public technique for hiding a payload in a model container.

Each test scans a committed fixture (never unpickled) and asserts that the payload is found or the
container trick itself is reported at high severity. Links point at the public write-ups.
"""

from __future__ import annotations

from fixtures.gen_containers import Member, build_zip, payload

from container_helpers import MALICIOUS, scan_bytes
from mlchain.models import ArtifactFormat as F
from mlchain.models import Finding, ScanResult, Severity
from mlchain.scan import scan_file


def scan(name: str) -> ScanResult:
    return scan_file(MALICIOUS / name)


def has(result: ScanResult | list[Finding], rule: str, at_least: Severity = Severity.HIGH) -> bool:
    findings = result.findings if isinstance(result, ScanResult) else result
    return any(f.rule_id == rule and f.severity >= at_least for f in findings)


def payload_found(result: ScanResult) -> bool:
    return any(
        f.rule_id == "pickle-dangerous-call"
        and f.severity is Severity.CRITICAL
        and "system" in (f.evidence or "") + f.message
        for f in result.findings
    )


def test_cve_2025_1889_pickle_member_with_non_standard_extension() -> None:
    """https://github.com/mmaitre314/picklescan/security/advisories/GHSA-769v-p64c-89pr"""
    result = scan("torch_payload_other_member.pt")
    assert result.format is F.PYTORCH_ZIP
    assert payload_found(result)
    assert any(f.location.member == "archive/extra/settings.cfg" for f in result.findings)


def test_cve_2025_1944_local_and_central_name_mismatch() -> None:
    """https://github.com/mmaitre314/picklescan/security/advisories/GHSA-7q5r-7gvp-wc82"""
    result = scan("torch_name_mismatch.pt")
    assert payload_found(result)
    assert has(result, "archive-suspicious-member")


def test_cve_2025_1945_zip_flag_bits() -> None:
    """https://github.com/mmaitre314/picklescan/security/advisories/GHSA-w8jq-xcqf-f792

    The UTF-8 name flag differs between local and central headers of a non-ASCII archive name:
    zipfile decodes the name two ways and refuses the member, torch 2.13 loads it (measured).
    """
    result = scan("torch_flag_bits.pt")
    assert result.format is F.PYTORCH_ZIP
    assert payload_found(result)
    assert has(result, "archive-malformed", Severity.MEDIUM)


def test_cve_2025_10155_extension_bypass() -> None:
    """https://jfrog.com/blog/unveiling-3-zero-day-vulnerabilities-in-picklescan/

    A pickle (or a torch archive) under a name that suggests another format is scanned by
    content, whatever the extension.
    """
    plain = scan("extension_bypass.bin")
    assert plain.format is F.PICKLE
    assert payload_found(plain)
    archive = scan("pytorch_model.bin")
    assert archive.format is F.PYTORCH_ZIP
    assert payload_found(archive)  # protocol 0 payload in data.pkl


def test_cve_2025_10156_bad_crc() -> None:
    """https://jfrog.com/blog/unveiling-3-zero-day-vulnerabilities-in-picklescan/"""
    result = scan("torch_bad_crc.pt")
    assert payload_found(result)
    assert has(result, "archive-malformed", Severity.MEDIUM)


def test_nullifai_7z_wrapped_pickle() -> None:
    """https://www.reversinglabs.com/blog/rl-identifies-malware-ml-model-hosted-on-hugging-face"""
    result = scan("seven_zip_payload.7z")
    assert result.format is F.SEVEN_ZIP
    assert has(result, "archive-unsupported")


def test_nullifai_broken_pickle_in_torch_archive() -> None:
    """https://www.reversinglabs.com/blog/rl-identifies-malware-ml-model-hosted-on-hugging-face

    The payload runs before the stream breaks; the break must not hide it.
    """
    result = scan("torch_broken_pickle.pt")
    assert payload_found(result)
    assert has(result, "parse-error")


def test_numpy_object_array_pickle() -> None:
    """https://nvd.nist.gov/vuln/detail/CVE-2019-6446 (numpy.load with allow_pickle)"""
    for name in ("numpy_object_array.npy", "numpy_object_v2.npy", "numpy_object_member.npz"):
        assert payload_found(scan(name)), name


def test_compressed_joblib_payloads() -> None:
    """https://joblib.readthedocs.io/en/stable/persistence.html (joblib.load runs pickles)

    joblib's zlib, gzip, bz2, xz and lzma compressors each wrap the pickle stream.
    """
    for codec in ("zlib", "gzip", "bz2", "xz", "lzma"):
        result = scan(f"joblib_{codec}_payload.joblib")
        assert payload_found(result), codec


def test_old_joblib_zfile_payload() -> None:
    """https://github.com/joblib/joblib/blob/main/joblib/numpy_pickle_compat.py

    joblib.load still reads pre-0.10 "ZF" files (hex length + zlib) and unpickles them; their
    magic is neither a pickle nor a plain zlib header.
    """
    result = scan("joblib_zfile_payload.pkl")
    assert result.format is F.ZLIB
    assert payload_found(result)


def test_gzip_bz2_xz_wrapped_pickles() -> None:
    """https://github.com/protectai/modelscan/issues/263 (compressed pickles evade name checks)"""
    for name in ("model.pkl.gz", "model.pkl.bz2", "model.pkl.xz", "torch_payload.pt.gz"):
        assert payload_found(scan(name)), name


def test_zip_slip_member_names() -> None:
    """https://security.snyk.io/research/zip-slip-vulnerability"""
    result = scan("zip_slip.zip")
    assert has(result, "archive-suspicious-member")
    assert payload_found(result)


def test_tar_path_traversal_links_and_devices() -> None:
    """https://nvd.nist.gov/vuln/detail/CVE-2007-4559 (tarfile extraction path traversal)"""
    result = scan("tar_slip.tar.gz")
    suspicious = [f for f in result.findings if f.rule_id == "archive-suspicious-member"]
    assert len(suspicious) >= 4  # '..' name, symlink, hard link, device
    assert payload_found(result)


def test_zip_symlink_member() -> None:
    """https://security.snyk.io/research/zip-slip-vulnerability (symlink variant)"""
    assert has(scan("zip_symlink.zip"), "archive-suspicious-member")


def test_overlapping_files_zip_bomb() -> None:
    """https://www.bamsoftware.com/hacks/zipbomb/"""
    assert has(scan("zip_bomb_overlap.zip"), "archive-bomb")


def test_high_ratio_zip_and_gzip_bombs() -> None:
    """https://www.bamsoftware.com/hacks/zipbomb/ (classic high-ratio and lying sizes)"""
    for name in ("zip_bomb_bzip2.zip", "zip_bomb_lying_size.zip", "gzip_bomb.pkl.gz"):
        assert has(scan(name), "archive-bomb"), name


def test_nested_archives() -> None:
    """https://www.bamsoftware.com/hacks/zipbomb/ (recursive archives) and nested-model smuggling"""
    assert payload_found(scan("nested_zip_in_zip.zip"))
    assert has(scan("nested_too_deep.zip"), "archive-bomb")


def test_data_prepended_to_torch_zip() -> None:
    """https://blog.trailofbits.com/2024/03/04/relishing-new-fickling-features-for-securing-ml-systems/

    Polyglots: torch.load reads a file that does not start with a zip header as a legacy
    pickle, while zip tools find the archive at its end.
    """
    junk = scan("torch_prepended_junk.pt")
    assert payload_found(junk)
    assert has(junk, "archive-malformed", Severity.MEDIUM)
    polyglot = scan("torch_prepended_pickle.pt")
    assert polyglot.format is F.PYTORCH_ZIP
    assert payload_found(polyglot)  # in the pickle that torch.load reads
    hidden = scan("pickle_zip_polyglot.pkl")  # clean pickle, payload in the appended zip
    assert payload_found(hidden)
    assert any(f.location.member == "archive/data.pkl" for f in hidden.findings)


def test_legacy_torch_format_payload() -> None:
    """https://pytorch.org/docs/stable/generated/torch.load.html (legacy non-zip format)"""
    assert payload_found(scan("torch_legacy_payload.pt"))


def test_legacy_torch_tar_format_payloads() -> None:
    """https://pytorch.org/docs/stable/generated/torch.load.html (oldest tar format)"""
    assert payload_found(scan("torch_tar_payload.tar"))
    assert payload_found(scan("torch_tar_payload_in_tensors.tar"))


def test_payload_in_deflated_torch_member() -> None:
    """https://github.com/mmaitre314/picklescan/security/advisories/GHSA-7q5r-7gvp-wc82

    torch's miniz inflates deflated members; a scanner that only reads stored ones is blind.
    """
    assert payload_found(scan("torch_payload_deflated.pt"))


def test_duplicate_member_names() -> None:
    """https://www.bamsoftware.com/hacks/zipbomb/ (ambiguous central directories)

    Two members share a name: loaders and scanners may pick different ones, so both are scanned.
    """
    data = build_zip(
        [Member("archive/data.pkl", b"\x80\x02N."), Member("archive/data.pkl", payload(2))]
    )
    found = scan_bytes(data, F.PYTORCH_ZIP)
    assert has(found, "archive-suspicious-member")
    assert has(found, "pickle-dangerous-call", Severity.CRITICAL)


def test_cve_2024_6232_tar_pax_header_redos() -> None:
    """https://nvd.nist.gov/vuln/detail/CVE-2024-6232

    tarfile's pax-header regexes backtrack quadratically (Python < 3.11.10 / 3.12.6); a scanner
    built on tarfile stalls for minutes on a small tar. Ours reads headers linearly.
    """
    import tarfile
    import time

    body = b"1" * 1_000_000
    info = tarfile.TarInfo("././@PaxHeader")
    info.type = tarfile.XHDTYPE
    info.size = len(body)
    data = info.tobuf(format=tarfile.USTAR_FORMAT) + body + bytes(-len(body) % 512) + bytes(1024)
    start = time.monotonic()
    found = scan_bytes(data, F.TAR)
    assert time.monotonic() - start < 2.0
    assert has(found, "parse-error")
