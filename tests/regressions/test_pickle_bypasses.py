"""One test per public pickle-scanner bypass technique, at the VM level.

Each test scans a hand-assembled fixture from ``fixtures/gen_pickle.py`` (payloads would only
create the canary file) and asserts the precise finding: rule id, severity and the global named
in the evidence. The docstring of each test links the advisory or write-up it reproduces.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures.gen_pickle import MALICIOUS

from mlchain.models import Finding, Severity
from mlchain.scan import scan_file
from pickle_vm_helpers import run

CRITICAL = Severity.CRITICAL
HIGH = Severity.HIGH


def _expect(
    fixture: str, rule: str, floor: Severity, evidence: str, *, nested: bool = False
) -> Finding:
    result = run(MALICIOUS[fixture])
    for f in result.findings:
        if f.rule_id == rule and f.severity >= floor and evidence in (f.evidence or ""):
            assert nested == bool(f.location.member), f
            return f
    raise AssertionError(
        f"{fixture}: no {rule} >= {floor.label} naming {evidence!r}; got "
        + repr([(f.rule_id, f.severity.label, f.evidence) for f in result.findings])
    )


def test_stack_global_memo_confusion() -> None:
    """BINPUT/MEMOIZE mix makes memo-naive scanners resolve a safe name.

    https://github.com/mmaitre314/picklescan/issues/14
    """
    _expect("stack_global_memo_confusion.pkl", "pickle-dangerous-call", CRITICAL, "os.system(")


def test_memo_argument_ignored_memoize_collision() -> None:
    """MEMOIZE writes at len(memo), overwriting a PUT slot; scanners ignoring the index lose.

    https://github.com/mmaitre314/picklescan/issues/22
    """
    _expect("memoize_index_collision.pkl", "pickle-dangerous-call", CRITICAL, "posix.system(")


def test_stack_global_operands_at_position_zero() -> None:
    """STACK_GLOBAL operands at stream position zero crashed picklescan's look-back.

    https://github.com/mmaitre314/picklescan/security/advisories/GHSA-9gvj-pp9x-gcfr
    (CVE-2025-71325)
    """
    _expect("stack_global_at_position_zero.pkl", "pickle-dangerous-call", CRITICAL, "os.system(")


@pytest.mark.parametrize(
    "fixture", ["stack_global_legacy_strings.pkl", "stack_global_unicode_escapes.pkl"]
)
def test_stack_global_operands_from_legacy_string_opcodes(fixture: str) -> None:
    """STACK_GLOBAL fed by STRING/SHORT_BINSTRING/UNICODE (escaped) instead of BINUNICODE.

    https://github.com/protectai/modelscan/pull/313
    """
    _expect(fixture, "pickle-dangerous-call", CRITICAL, "os.system('touch")


@pytest.mark.parametrize(
    ("fixture", "evidence"),
    [
        ("dotted_name_pathlib_os_system.pkl", "pathlib.os.system("),
        ("numpy_os_dotted.pkl", "numpy.os.system("),
        ("torch_builtins_dunder.pkl", "torch.__builtins__.exec("),
        ("sys_modules_dotted.pkl", "sys.modules.get("),
    ],
)
def test_dotted_name_attribute_chain(fixture: str, evidence: str) -> None:
    """Protocol 4 resolves dotted names by getattr chains: an allowed module reaches os.system.

    https://github.com/mmaitre314/picklescan/issues/66 (follow-up to GHSA-vvpj-8cmc-gx39)
    """
    _expect(fixture, "pickle-dangerous-call", CRITICAL, evidence)


def test_obj_then_pop_hides_the_call() -> None:
    """OBJ's result was never persisted, so POP made the call invisible to fickling.

    https://github.com/trailofbits/fickling/security/advisories/GHSA-mxhj-88fx-4pcv
    """
    _expect("obj_then_pop.pkl", "pickle-dangerous-call", CRITICAL, "os.system('touch")


def test_inst_opcode_pty_spawn() -> None:
    """INST (protocol 0) with pty.spawn evaded fickling's unsafe-import list.

    https://github.com/trailofbits/fickling/security/advisories/GHSA-r7v6-mfhq-g3m2
    """
    _expect("inst_opcode.pkl", "pickle-dangerous-call", CRITICAL, "pty.spawn('touch")


def test_ext_opcode_extension_registry() -> None:
    """EXT1/2/4 import whatever the loading process registered with copyreg.add_extension.

    https://peps.python.org/pep-0307/#the-extension-registry
    """
    _expect("ext_opcode.pkl", "pickle-extension-code", HIGH, "EXT 1")
    _expect("ext_opcode.pkl", "pickle-unknown-call", HIGH, "<extension object 1>(")


def test_frame_boundary_differential() -> None:
    """An argument running past its FRAME: pickle.loads and pickle.load(file) diverge.

    https://github.com/python/cpython/issues/154848 (C unpickler _Unpickler_ReadImpl refills
    from the file after a frame, skipping the frame's remaining bytes).
    """
    result = run(MALICIOUS["frame_boundary_differential.pkl"])
    assert any(
        f.rule_id == "pickle-frame-violation" and f.severity >= HIGH for f in result.findings
    )
    _expect("frame_boundary_differential.pkl", "pickle-dangerous-call", CRITICAL, "os.system(")


def test_cpython_154848_published_reproducer() -> None:
    """The reproducer of python/cpython#154848: a prefetch-sized line, then a 2-byte FRAME.

    https://github.com/python/cpython/issues/154848 (fixed in CPython 3.13.15/3.14.7, which
    now reject such streams; older interpreters still execute the hidden call from a file).
    """
    result = run(MALICIOUS["cpython_154848_reproducer.pkl"])
    assert "pickle-frame-violation" in {f.rule_id for f in result.findings}
    _expect("cpython_154848_reproducer.pkl", "pickle-dangerous-call", CRITICAL, "os.system('touch")


def test_nullifai_broken_stream_after_payload() -> None:
    """nullifAI: the payload runs, then the stream breaks so scanners give up.

    https://www.reversinglabs.com/blog/rl-identifies-malware-ml-model-hosted-on-hugging-face
    """
    result = run(MALICIOUS["nullifai_broken_after_payload.pkl"])
    assert "parse-error" in {f.rule_id for f in result.findings}
    _expect("nullifai_broken_after_payload.pkl", "pickle-dangerous-call", CRITICAL, "os.system(")


def test_pip_main_cve_2025_1716() -> None:
    """pip.main as the REDUCE callable installs an attacker package.

    https://nvd.nist.gov/vuln/detail/CVE-2025-1716
    """
    _expect("pip_main_cve_2025_1716.pkl", "pickle-dangerous-call", CRITICAL, "pip.main(['install'")


def test_unsafe_globals_submodule_cve_2025_10157() -> None:
    """Exact-match blocklists miss submodules: asyncio.unix_events instead of asyncio.

    https://nvd.nist.gov/vuln/detail/CVE-2025-10157 ;
    https://jfrog.com/blog/unveiling-3-zero-day-vulnerabilities-in-picklescan/
    """
    _expect(
        "asyncio_submodule_cve_2025_10157.pkl",
        "pickle-dangerous-call",
        CRITICAL,
        "asyncio.unix_events._UnixSubprocessTransport._start(",
    )


def test_pickle_with_pytorch_extension_cve_2025_10155(tmp_path: Path) -> None:
    """A plain (protocol 0 text) pickle named .bin/.pt is still a pickle.

    https://nvd.nist.gov/vuln/detail/CVE-2025-10155
    """
    _expect("protocol0_text.bin", "pickle-dangerous-call", CRITICAL, "os.system('touch")
    for name in ("pytorch_model.bin", "model.pt"):
        path = tmp_path / name
        path.write_bytes(MALICIOUS["protocol0_text.bin"])
        result = scan_file(path)
        assert any(
            f.rule_id == "pickle-dangerous-call" and "os.system" in (f.evidence or "")
            for f in result.findings
        ), result


@pytest.mark.parametrize(
    ("fixture", "evidence"),
    [
        ("nested_pickle_loads.pkl", "pickle.loads("),
        ("torch_load_bytesio.pkl", "torch.load(io.BytesIO("),
        ("dill_loads_nested.pkl", "dill.loads("),
    ],
)
def test_nested_pickle_via_deserializer_bytes(fixture: str, evidence: str) -> None:
    """A pickle calls pickle.loads/torch.load/dill.loads on bytes holding a second pickle.

    https://github.com/mmaitre314/picklescan/security/advisories/GHSA-84r2-jw7c-4r5q
    """
    _expect(fixture, "pickle-nested", HIGH, evidence)
    _expect(fixture, "pickle-dangerous-call", CRITICAL, "os.system('touch", nested=True)


def test_timeit_gadget() -> None:
    """timeit.timeit evaluates its statement string.

    https://github.com/mmaitre314/picklescan/security/advisories/GHSA-v7x6-rv5q-mhwc
    (CVE-2025-71351)
    """
    _expect("timeit_gadget.pkl", "pickle-dangerous-call", CRITICAL, "timeit.timeit(")


def test_operator_methodcaller_gadget() -> None:
    """_operator.methodcaller('system', cmd) applied to a module object.

    https://github.com/mmaitre314/picklescan/security/advisories/GHSA-955r-x9j8-7rhh ;
    https://github.com/mmaitre314/picklescan/security/advisories/GHSA-m273-6v24-x4m4
    """
    _expect(
        "operator_methodcaller.pkl", "pickle-dangerous-call", CRITICAL, "_operator.methodcaller("
    )


def test_pkgutil_resolve_name_universal_bypass() -> None:
    """pkgutil.resolve_name('os:system') reaches every blocked function.

    https://github.com/mmaitre314/picklescan/security/advisories/GHSA-vvpj-8cmc-gx39
    """
    f = _expect(
        "pkgutil_resolve_name.pkl", "pickle-dangerous-call", CRITICAL, "resolve_name('os:system')("
    )
    assert "result of pkgutil.resolve_name" in f.message


def test_pydoc_locate_resolver() -> None:
    """pydoc.locate('os.system') is another string-to-callable resolver.

    https://nvd.nist.gov/vuln/detail/CVE-2025-71320
    """
    _expect("pydoc_locate.pkl", "pickle-dangerous-call", CRITICAL, "pydoc.locate('os.system')(")


def test_importlib_import_module_then_getattr() -> None:
    """importlib.import_module('os') plus getattr avoids any GLOBAL naming os.

    https://github.com/mmaitre314/picklescan/pull/74
    """
    _expect("importlib_import_module.pkl", "pickle-dangerous-call", CRITICAL, "import_module('os')")


def test_builtins_import_getattr_chain() -> None:
    """builtins.__import__ + getattr chains that fickling's AST did not represent.

    https://github.com/trailofbits/fickling/security/advisories/GHSA-h4rm-mm56-xf63
    """
    _expect(
        "getattr_import_chain.pkl",
        "pickle-dangerous-call",
        CRITICAL,
        "builtins.getattr(builtins.__import__('os'), 'system')('touch",
    )


def test_ensurepip_run_pip() -> None:
    """ensurepip._run_pip runs pip with attacker arguments.

    https://github.com/mmaitre314/picklescan/security/advisories/GHSA-xp4f-hrf8-rxw7
    """
    _expect("ensurepip_run_pip.pkl", "pickle-dangerous-call", CRITICAL, "ensurepip._run_pip(")


@pytest.mark.parametrize(
    ("fixture", "evidence"),
    [
        ("cprofile_run.pkl", "cProfile.run("),
        ("profile_run.pkl", "profile.run("),
        ("trace_runctx.pkl", "trace.Trace.runctx("),
    ],
)
def test_profiler_and_tracer_exec(fixture: str, evidence: str) -> None:
    """Profilers and tracers exec their statement argument.

    https://github.com/mmaitre314/picklescan/security/advisories/GHSA-4675-36f9-wf6r ;
    https://github.com/mmaitre314/picklescan/security/advisories/GHSA-9w88-8rmg-7g2p ;
    https://nvd.nist.gov/vuln/detail/CVE-2026-53873 ; https://nvd.nist.gov/vuln/detail/CVE-2025-71352
    """
    _expect(fixture, "pickle-dangerous-call", CRITICAL, evidence)


def test_torch_dynamo_guardbuilder_get() -> None:
    """torch._dynamo.guards.GuardBuilder.get evaluates a guard expression.

    https://nvd.nist.gov/vuln/detail/CVE-2025-71353
    """
    _expect(
        "torch_dynamo_guardbuilder.pkl",
        "pickle-dangerous-call",
        CRITICAL,
        "torch._dynamo.guards.GuardBuilder.get(",
    )


def test_numpy_f2py_getlincoef_eval() -> None:
    """numpy.f2py.crackfortran.getlincoef evals its expression argument.

    https://github.com/trailofbits/fickling/pull/210
    """
    _expect(
        "numpy_f2py_getlincoef.pkl",
        "pickle-dangerous-call",
        CRITICAL,
        "numpy.f2py.crackfortran.getlincoef(",
    )


def test_stdlib_process_helpers_missing_from_blocklists() -> None:
    """uuid._get_command_stdout (and _osx_support/_aix_support) run commands.

    https://github.com/TracecatHQ/tracecat/issues/2284 (fickling missing RCE-capable modules)
    """
    _expect(
        "uuid_get_command_stdout.pkl",
        "pickle-dangerous-call",
        CRITICAL,
        "uuid._get_command_stdout(",
    )


def test_build_setstate_injection() -> None:
    """BUILD's slot state installs __setstate__ = posix.system; the next BUILD calls it.

    https://github.com/trailofbits/fickling/security/advisories/GHSA-6ggj-6f2q-f7mx
    """
    _expect("build_setstate_injection.pkl", "pickle-dangerous-call", CRITICAL, "'__setstate__'")
    _expect(
        "build_setstate_injection.pkl", "pickle-dangerous-call", CRITICAL, "posix.system('touch"
    )


def test_functools_partial_wrapper() -> None:
    """functools.partial(os.system, cmd) hides the dangerous callable as an argument.

    https://github.com/trailofbits/fickling/pull/210
    """
    _expect(
        "functools_partial.pkl", "pickle-dangerous-call", CRITICAL, "functools.partial(os.system"
    )


@pytest.mark.parametrize(
    ("fixture", "evidence"),
    [
        ("http_server.pkl", "http.server.test("),
        ("webbrowser_open.pkl", "webbrowser.open("),
        ("idlelib_run.pkl", "idlelib.pyshell.ModifiedInterpreter.runcode("),
        ("lib2to3_make_label.pkl", "lib2to3.pgen2.pgen.ParserGenerator.make_label("),
        ("shutil_write.pkl", "shutil.copyfile("),
    ],
)
def test_dangerous_stdlib_not_in_blocklists(fixture: str, evidence: str) -> None:
    """Network, IDE and file modules missing from picklescan/fickling lists.

    https://github.com/mmaitre314/picklescan/security/advisories/GHSA-hgrh-qx5j-jfwx ;
    https://github.com/mmaitre314/picklescan/security/advisories/GHSA-r8g5-cgf2-4m4m ;
    https://nvd.nist.gov/vuln/detail/CVE-2025-71343 ; https://github.com/trailofbits/fickling/pull/210
    """
    _expect(fixture, "pickle-dangerous-call", CRITICAL, evidence)


def test_second_pickle_after_stop() -> None:
    """A benign pickle, then the payload: loaders calling pickle.load in a loop run both.

    https://github.com/mmaitre314/picklescan/pull/46 (scan every opcode the loader reads)
    """
    result = run(MALICIOUS["second_pickle_after_stop.pkl"])
    assert result.pickles == 2
    _expect("second_pickle_after_stop.pkl", "pickle-dangerous-call", CRITICAL, "os.system(")


def test_scanner_tampering_import() -> None:
    """Imports of scanner internals (fickling, picklescan, modelscan, mlchain) are critical.

    https://github.com/mmaitre314/picklescan/issues/66
    """
    _expect(
        "scanner_tampering.pkl",
        "pickle-dangerous-import",
        CRITICAL,
        "mlchain.scan.pickle.allowlist.SAFE_GLOBALS",
    )


def test_joblib_array_bytes_polyglot() -> None:
    """joblib skips raw array bytes after a NumpyArrayWrapper; plain pickle.load executes them.

    https://github.com/joblib/joblib/blob/main/joblib/numpy_pickle.py (NumpyArrayWrapper.read_array)
    """
    _expect("joblib_array_polyglot.pkl", "pickle-dangerous-call", CRITICAL, "os.system('touch")


def test_private_stdlib_module_interpreters() -> None:
    """_interpreters.create/run_string run source in a subinterpreter; private modules blocked.

    https://github.com/trailofbits/fickling/pull/302 (GHSA-6ggj-6f2q-f7mx)
    """
    _expect(
        "private_interpreters_run_string.pkl",
        "pickle-dangerous-call",
        CRITICAL,
        "_interpreters.run_string(_interpreters.create()",
    )
    result = run(b"\x80\x02c_posixshmem\nshm_unlink\nX\x01\x00\x00\x00x\x85R.")
    assert {(f.rule_id, f.severity) for f in result.findings} == {
        ("pickle-dangerous-call", CRITICAL)
    }


def test_cyclic_structures_do_not_stop_the_scan() -> None:
    """A list that contains itself crashed fickling's analysis (RecursionError DoS).

    https://github.com/trailofbits/fickling/issues/196
    """
    f = _expect("cyclic_list_then_call.pkl", "pickle-dangerous-call", CRITICAL, "os.system('touch")
    assert f.evidence is not None
    assert len(f.evidence) <= 160


@pytest.mark.parametrize("literal", [b"0x10", b"1_0", b"0o7", b"0b1"])
def test_protocol0_base0_int_literal_is_not_waved_through_as_text(
    tmp_path: Path, literal: bytes
) -> None:
    """CPython parses protocol-0 INT/LONG lines as base-0 integers (``0x10``, ``1_0`` ...).

    A sniff that only accepted decimal digits called such a file plain text, and text is inert:
    ``os.system`` would have passed as clean. Found in this project's own review.
    https://github.com/python/cpython/blob/main/Modules/_pickle.c (load_int / load_long)
    """
    from mlchain.scan import scan_paths
    from mlchain.scan.base import ScanOptions

    payload = b"cos\nsystem\n(I" + literal + b"\nS'touch /tmp/mlchain-canary-executed'\ntR."
    (tmp_path / "model.bin").write_bytes(payload)
    report = scan_paths([tmp_path], ScanOptions(jobs=1))
    assert "pickle-dangerous-call" in {f.rule_id for f in report.findings}
