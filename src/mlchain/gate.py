"""The one-shot deploy gate behind ``mlchain verify MODEL --policy POLICY``.

Steps, each feeding the policy's inputs (:class:`mlchain.policy.PolicyInputs`):

0. **Listing.** The model is listed completely (:func:`mlchain.signing.tree.list_model`; an
   unlistable folder denies) and each file's identity and change stamps are recorded.
1. **Signature.** The model's OMS bundle is verified with each policy authority whose kind fits
   the bundle; an authority matches only when *its own* trust material (keyless identity, key,
   or certificate chain **and** subject rule) verifies the signer. The first that does is
   recorded in the result (``authority``), with the fingerprints of the chain that verified.
2. **Attestations.** Bundles given with ``--attestation`` and the ``*.json`` files in the folder
   beside the model (``<model>.mlchain/``, identical copies counted once, at most
   :data:`MAX_FOLDER_BUNDLES`) are verified the same way and checked against the model's file
   digests, computed **once** per run. Each policy input (``provenance``, ``sbom``, the ``scan``
   report) comes only from statements signed by an authority its requirement names; two
   qualifying statements of a type that disagree deny; statements that do not qualify are
   reported (``note``) and ignored.
3. **Scan.** The model is scanned again here, with the policy's allowlist additions, unless the
   policy sets ``spec.scan.acceptAttestation``, requires a scan attestation, and one qualified
   (same files, verdict ``pass``, a report covering every file). Every signed file must appear
   in the scan (a file inside a nested ``.git``/``.hg``/``.svn`` folder is signed but never
   scanned: that denies).
4. **Unchanged.** Every file must still have the stamps it had at step 0 (a file swapped after
   being hashed and before being scanned changes its ctime): otherwise deny.

Each file is **opened once** for steps 1-3 (:mod:`mlchain.pinned`): model-signing's hasher and
the scanners read the descriptor opened right after the listing, never the name again, so a file
renamed over the model's during the run is neither hashed nor scanned, and every byte is hashed
once (mlchain issue #15, item 5; issue #19, item 7). A write into an opened file itself changes
its ctime, which step 4 also checks on the open descriptor.
5. **Decision.** The policy is evaluated (:func:`mlchain.policy.evaluate`); the gate's own checks
   above are added as rules. Anything missing, unreadable or unverifiable denies.

Nothing here raises for a model that merely fails: that is a deny with reasons. Errors are for
mlchain's own failures (unreadable policy, unreadable model path).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, TypeVar

from mlchain.errors import MlchainError
from mlchain.intoto import CYCLONEDX_BOM, MLCHAIN_SCAN_V1, SLSA_PROVENANCE_V1

if TYPE_CHECKING:
    from mlchain.attest.verify import AttestationCheck
    from mlchain.pinned import PinnedFiles
    from mlchain.policy import ModelPolicy, PolicyDecision
    from mlchain.policy.evaluate import RuleResult
    from mlchain.policy.schema import Authority
    from mlchain.signing.tree import ModelTree
    from mlchain.signing.verify import ModelVerification, VerificationMethod

ATTESTATION_DIR_SUFFIX = ".mlchain"
"""Attestation bundles for ``models/llama`` live in ``models/llama.mlchain/``."""

MAX_FOLDER_BUNDLES = 64
"""Most bundles read from ``<model>.mlchain/``: each costs a signature check."""

_KIND_TO_METHOD = {"keyless": "sigstore", "key": "key", "certificateChain": "certificate"}
_INPUT_OF_PREDICATE = {
    SLSA_PROVENANCE_V1: "provenance",
    CYCLONEDX_BOM: "sbom",
    MLCHAIN_SCAN_V1: "scan",
}

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class GateResult:
    """Everything the gate looked at, and its decision."""

    decision: PolicyDecision
    verification: dict[str, Any] | None
    scan: dict[str, Any] | None
    provenance: dict[str, Any] | None
    sbom: dict[str, Any] | None
    model: dict[str, Any] | None
    scan_source: str = "rescan"
    """``rescan`` (scanned here), ``attestation`` (``spec.scan.acceptAttestation``) or ``none``
    (the model could not be listed, so it was not scanned)."""

    def to_json(self) -> dict[str, Any]:
        """Machine-readable gate report (``verify --policy -f json``)."""
        return {
            **self.decision.to_dict(),
            "verification": self.verification,
            "scan_summary": None if self.scan is None else self.scan.get("summary"),
            "scan_source": self.scan_source,
        }


def attestation_dir(model_path: Path) -> Path:
    """Where attestation bundles for ``model_path`` are looked for."""
    resolved = model_path.absolute()
    return resolved.parent / f"{resolved.name}{ATTESTATION_DIR_SUFFIX}"


def discover_attestations(model_path: Path, explicit: Sequence[Path]) -> list[Path]:
    """Explicit bundles first, then the ``*.json`` in :func:`attestation_dir`, sorted, capped."""
    found = list(explicit)
    folder = attestation_dir(model_path)
    if folder.is_dir():
        beside = sorted(p for p in folder.glob("*.json") if p.is_file() and p not in found)
        found += beside[:MAX_FOLDER_BUNDLES]
    return found


def first_verified(
    methods: Sequence[tuple[Authority, VerificationMethod]],
    kind: str | None,
    attempt: Callable[[Authority, VerificationMethod], _T],
    verified: Callable[[_T], bool],
) -> tuple[Authority | None, _T | None, list[str]]:
    """Try each authority of the bundle's ``kind`` in turn (sigstore's ``AnyOf``).

    Returns the first authority whose attempt verified and its result; else ``None``, the last
    result and every authority's reason.
    """
    errors: list[str] = []
    last: _T | None = None
    tried = False
    for authority, method in methods:
        if _KIND_TO_METHOD[authority.kind] != kind:
            continue
        tried = True
        try:
            result = attempt(authority, method)
        except MlchainError as exc:
            errors.append(f"{authority.name}: {exc.message}")
            continue
        if verified(result):
            return authority, result, errors
        last = result
        errors += [f"{authority.name}: {e}" for e in getattr(result, "errors", ())]
    if not tried:
        errors.insert(0, _no_authority_of_kind(kind))
    return None, last, errors


_KIND_WORDS = {
    "key": ("a key", "key", "key-signed.yaml"),
    "sigstore": ("Sigstore keyless", "keyless", "github-keyless.yaml"),
    "certificate": ("a certificate", "certificateChain", "internal-pki.yaml"),
}


def _no_authority_of_kind(kind: str | None) -> str:
    """Why no authority was tried: the bundle is unreadable, or the policy lacks that kind."""
    if kind not in _KIND_WORDS:
        return "not a readable Sigstore bundle, so it was not checked"
    how, field, example = _KIND_WORDS[kind]
    return (
        f"the bundle is signed with {how}, and the policy has no {field} authority (add one to "
        f"spec.authorities: see docs/policies/{example})"
    )


def run_gate(
    model_path: Path,
    policy: ModelPolicy,
    *,
    signature: Path | None = None,
    attestations: Sequence[Path] = (),
    trust_config: Path | None = None,
    allow_symlinks: bool = False,
    jobs: int = 0,
) -> GateResult:
    """List, verify, re-scan and decide. See the module docstring for the steps."""
    from mlchain.signing.tree import UnreadableModelError, list_model

    gate_rules: list[RuleResult] = []
    tree: ModelTree | None
    try:
        tree = list_model(model_path)
    except UnreadableModelError as exc:
        tree = None
        gate_rules.append(_rule("model-readable", False, exc.message))
    with _pin(tree) as pins:
        return _run_pinned(
            model_path,
            policy,
            tree,
            pins,
            gate_rules,
            signature,
            attestations,
            trust_config,
            allow_symlinks,
            jobs,
        )


@contextmanager
def _pin(tree: ModelTree | None) -> Iterator[PinnedFiles]:
    """Open each file of the model once for the whole run (mlchain issues #15.5, #19.7)."""
    from mlchain.pinned import pinned

    files = [] if tree is None else [(p, tree.stamps.get(r)) for r, p, d in tree.entries if not d]
    with pinned(files) as pins:
        yield pins


def _run_pinned(
    model_path: Path,
    policy: ModelPolicy,
    tree: ModelTree | None,
    pins: PinnedFiles,
    gate_rules: list[RuleResult],
    signature: Path | None,
    attestations: Sequence[Path],
    trust_config: Path | None,
    allow_symlinks: bool,
    jobs: int,
) -> GateResult:
    from mlchain.policy import PolicyInputs, evaluate
    from mlchain.policy.inputs import describe_model

    with _methods(policy, trust_config) as methods:
        verification = _verify_signature(model_path, signature, methods, allow_symlinks)
        checks = _verify_attestations(
            model_path,
            discover_attestations(model_path, attestations),
            methods,
            allow_symlinks,
            verification,
        )
    checks, inputs, conflicts = _select_inputs(policy, checks)
    gate_rules += [_rule("attestation-conflict", False, c) for c in conflicts]
    document = verification.to_json()
    document["attestations"] = [c.to_json() for c in checks]

    scan: dict[str, Any] | None = None
    scan_source = "none"
    if tree is not None:  # a model that cannot be listed is denied, not scanned
        scan, scan_source = _scan_input(model_path, policy, inputs.get("scan"), jobs)
        if policy.scan is not None:
            gate_rules += _coverage_rules(verification, scan, scan_source, tree)
        changed = sorted(set(tree.changed()) | set(_pins_changed(tree, pins)))
        if changed:
            gate_rules.append(
                _rule(
                    "unchanged-during-gate",
                    False,
                    f"{len(changed)} file(s) changed while the gate ran (first: {changed[0]}); "
                    "the bytes hashed, scanned and served may differ. Verify a private copy "
                    "(--copy-to) or immutable storage.",
                )
            )
    provenance = inputs.get("provenance")
    sbom_statement = inputs.get("sbom")
    sbom = sbom_statement.get("predicate") if sbom_statement else None
    model = describe_model(scan) if scan is not None else None
    decision = evaluate(
        policy,
        PolicyInputs(
            verification=document,
            scan=scan,
            provenance=provenance,
            sbom=sbom if isinstance(sbom, dict) else None,
            model=model,
        ),
    )
    if gate_rules:
        from mlchain.policy import PolicyDecision

        results = (*decision.results, *gate_rules)
        decision = PolicyDecision(
            policy=decision.policy,
            allowed=decision.allowed and all(r.passed for r in gate_rules),
            results=results,
        )
    return GateResult(decision, document, scan, provenance, sbom, model, scan_source)


def _pins_changed(tree: ModelTree, pins: PinnedFiles) -> list[str]:
    """Files written in place (or swapped before they were opened) since the listing."""
    import os

    moved = set(pins.changed())
    if not moved:
        return []
    return [
        rel for rel, path, is_dir in tree.entries if not is_dir and os.path.realpath(path) in moved
    ]


def _rule(name: str, passed: bool, message: str) -> RuleResult:
    from mlchain.policy.evaluate import RuleResult

    return RuleResult(name, passed, message, "gate")


@contextmanager
def _methods(
    policy: ModelPolicy, trust_config: Path | None
) -> Iterator[list[tuple[Authority, VerificationMethod]]]:
    """One verification method per authority (key PEM data goes to a private temp file).

    A certificate authority's method carries its own subject rule, so an authority matches only
    when its own chain *and* its own subject rule accept the signer.
    """
    from mlchain.signing.verify import VerificationMethod

    with tempfile.TemporaryDirectory(prefix="mlchain-gate-") as tmp:
        methods: list[tuple[Authority, VerificationMethod]] = []
        for index, authority in enumerate(policy.authorities):
            if authority.kind == "keyless":
                assert authority.issuer is not None
                method = VerificationMethod.keyless(
                    issuer=authority.issuer,
                    identity=authority.subject,
                    identity_regexp=None if authority.subject else authority.subject_regexp,
                    trust_config=trust_config,
                )
            elif authority.kind == "key":
                assert authority.key_pem is not None
                key_file = Path(tmp) / f"authority-{index}.pem"
                key_file.write_bytes(authority.key_pem)
                method = VerificationMethod.key(key_file)
            else:
                assert authority.chain_path is not None
                method = VerificationMethod.with_certificate_chain(
                    (authority.chain_path,),
                    identity=authority.subject,
                    identity_regexp=None if authority.subject else authority.subject_regexp,
                )
            methods.append((authority, method))
        yield methods


def _bundle_kind(path: Path | None = None, text: str | None = None) -> str | None:
    from mlchain.signing.bundle import parse_bundle
    from mlchain.signing.verify import read_bundle

    try:
        if text is not None:
            return str(parse_bundle(text, source="the bundle").signer.method)
        assert path is not None
        return str(read_bundle(path).signer.method)
    except MlchainError:
        return None


def _verify_signature(
    model_path: Path,
    signature: Path | None,
    methods: list[tuple[Authority, VerificationMethod]],
    allow_symlinks: bool,
) -> ModelVerification:
    from mlchain.signing.manifest import default_signature_path
    from mlchain.signing.verify import ModelVerification, verify_model

    name = model_path.name or str(model_path)
    bundle = signature if signature is not None else default_signature_path(model_path)
    if not bundle.is_file():
        return ModelVerification.unverified(f"no signature found at {bundle}", model=name)
    kind = _bundle_kind(bundle)
    if kind is None:
        return ModelVerification.unverified(
            f"{bundle} is not a readable Sigstore bundle", model=name
        )

    def attempt(authority: Authority, method: VerificationMethod) -> ModelVerification:
        result = verify_model(model_path, method, signature=bundle, allow_symlinks=allow_symlinks)
        return replace(result, authority=authority.name)

    authority, result, errors = first_verified(
        methods, kind, attempt, lambda r: r is not None and r.verified
    )
    if authority is not None and result is not None:
        return result
    base = result if result is not None else ModelVerification.unverified("", model=name)
    return replace(base, authority=None, errors=tuple(errors) or ("no authority verified",))


def _verify_attestations(
    model_path: Path,
    bundles: Sequence[Path],
    methods: list[tuple[Authority, VerificationMethod]],
    allow_symlinks: bool,
    verification: ModelVerification,
) -> list[AttestationCheck]:
    """Verify each bundle with the authorities in turn, against digests computed once."""
    from mlchain.attest.verify import AttestationCheck, check_statement
    from mlchain.signing.bundle import read_bundle_text
    from mlchain.signing.verify import VerifiedStatement, verify_statement

    digests: dict[str, str] | None = None
    seen: dict[str, str] = {}
    checks: list[AttestationCheck] = []
    for path in bundles:
        try:
            text = read_bundle_text(path)
        except (OSError, ValueError) as exc:
            checks.append(AttestationCheck.failed(path, f"cannot read the bundle: {exc}"))
            continue
        fingerprint = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if fingerprint in seen:  # N copies of one bundle cost one check, not N
            checks.append(
                AttestationCheck.failed(path, f"an identical copy of {seen[fingerprint]}; ignored")
            )
            continue
        seen[fingerprint] = str(path)
        kind = _bundle_kind(text=text)

        def attempt(
            authority: Authority, method: VerificationMethod, text: str = text
        ) -> VerifiedStatement:
            return verify_statement(text, method)

        authority, statement, errors = first_verified(methods, kind, attempt, lambda s: True)
        if authority is None or statement is None:
            reason = "; ".join(errors) or "signed by no policy authority"
            checks.append(AttestationCheck.failed(path, reason))
            continue
        if digests is None:
            try:
                digests = _model_digests(model_path, allow_symlinks, verification)
            except MlchainError as exc:
                checks.append(AttestationCheck.failed(path, exc.message))
                continue
        check = check_statement(statement, digests)
        checks.append(replace(check, bundle=str(path), authority=authority.name))
    return checks


def _model_digests(
    model_path: Path, allow_symlinks: bool, verification: ModelVerification
) -> dict[str, str]:
    """The per-file sha256 digests attestation subjects bind to, computed once per gate run.

    When the signature verified with the same settings (sha256, per-file, only the signature
    ignored), its files *are* those digests: the model is not hashed a second time.
    """
    from mlchain.intoto import digest_model
    from mlchain.signing.manifest import DEFAULT_SIGNATURE_NAME
    from mlchain.signing.tree import GIT_IGNORES

    if (
        verification.verified
        and verification.hash_algorithm == "sha256"
        and verification.shard_size is None  # shard digests are not whole-file digests
        and set(verification.ignored) - set(GIT_IGNORES) <= {DEFAULT_SIGNATURE_NAME}
        and model_path.is_dir()
        and not (model_path / "snapshots").is_dir()  # a Hugging Face cache repository
        and verification.files
    ):
        return dict(verification.files)
    return digest_model(model_path, allow_symlinks=allow_symlinks)


def _select_inputs(
    policy: ModelPolicy, checks: list[AttestationCheck]
) -> tuple[list[AttestationCheck], dict[str, dict[str, Any]], list[str]]:
    """Pick each policy input from the statements its requirement's authorities signed.

    Returns the checks annotated with ``used_for``/``note``, the inputs, and conflicts (two
    qualifying statements of one type that disagree), each of which denies.
    """
    inputs: dict[str, dict[str, Any]] = {}
    conflicts: list[str] = []
    annotated = list(checks)
    for predicate_type, name in _INPUT_OF_PREDICATE.items():
        requirements = [r for r in policy.attestations if r.predicate_type == predicate_type]
        if name == "scan" and not requirements:
            allowed: set[str] | None = set()  # a scan report is accepted only when required
        elif not requirements or any(not r.authorities for r in requirements):
            allowed = None  # any policy authority
        else:
            allowed = {a for r in requirements for a in r.authorities}
        qualifying: list[int] = []
        for index, check in enumerate(annotated):
            if not check.verified or check.predicate_type != predicate_type:
                continue
            if allowed is not None and check.authority not in allowed:
                why = (
                    "the policy requires no scan attestation, so none is used"
                    if name == "scan" and not requirements
                    else f"signed by {check.authority}, not by an authority the "
                    f"{name} requirement names ({', '.join(sorted(allowed))})"
                )
                annotated[index] = replace(check, note=f"not used as the {name} input: {why}")
                continue
            qualifying.append(index)
        distinct = {_canonical(annotated[i].statement) for i in qualifying}
        if len(distinct) > 1:
            bundles = ", ".join(str(annotated[i].bundle) for i in qualifying)
            conflicts.append(
                f"{len(qualifying)} {name} attestations from acceptable authorities disagree "
                f"({bundles}); the gate cannot tell which one is meant."
            )
            for i in qualifying:
                annotated[i] = replace(annotated[i], note=f"conflicting {name} attestation")
            continue
        for i in qualifying:
            annotated[i] = replace(annotated[i], used_for=name)
        if qualifying:
            inputs[name] = annotated[qualifying[0]].statement
    return annotated, inputs, conflicts


def _canonical(statement: Mapping[str, Any]) -> str:
    import json

    return json.dumps(statement, sort_keys=True, separators=(",", ":"))


def _scan_input(
    model_path: Path,
    policy: ModelPolicy,
    attested: dict[str, Any] | None,
    jobs: int,
) -> tuple[dict[str, Any] | None, str]:
    """The scan report: a qualifying attestation's (``acceptAttestation``), else a re-scan."""
    from mlchain.output.json import report_to_dict
    from mlchain.scan import ScanOptions, scan_paths

    accept = policy.scan is not None and policy.scan.accept_attestation
    if accept and attested is not None and isinstance(attested.get("predicate"), dict):
        predicate = attested["predicate"]
        report = predicate.get("report")
        if isinstance(report, dict) and not predicate.get("notInReport"):
            # Verified against these exact files, verdict "pass"; the policy's own failOn and
            # allowGlobals still apply to its report, and coverage is checked by the caller.
            return dict(report), "attestation"
    options = ScanOptions(allow_globals=policy.allow_globals, jobs=jobs)
    return report_to_dict(scan_paths([model_path], options)), "rescan"


VCS_DIRS = frozenset({".git", ".hg", ".svn"})
"""Folders the scanner never enters, and model-signing never signs at the top level."""


def _coverage_rules(
    verification: ModelVerification,
    scan: Mapping[str, Any] | None,
    source: str,
    tree: ModelTree,
) -> list[RuleResult]:
    """Every signed file was scanned, and no version-control folder hides files.

    The scanner skips ``.git``/``.hg``/``.svn`` folders at any depth and model-signing leaves a
    top-level ``.git`` unsigned: together, a folder neither signed nor scanned inside an
    allowed model (mlchain issue #15, item 9). With ``spec.scan``, the gate denies both.
    """
    from mlchain.sanitize import clean_path

    vcs = [
        rel
        for rel in tree.files()
        if any(part in VCS_DIRS for part in PurePosixPath(rel).parts[:-1])
    ]
    rules: list[RuleResult] = []
    if vcs:
        rules.append(
            _rule(
                "no-vcs-folders",
                False,
                f"{len(vcs)} file(s) inside version-control folders, which are never scanned "
                f"(first: {clean_path(vcs[0])}); deploy the model without .git/.hg/.svn.",
            )
        )
    if not verification.verified or scan is None:
        return rules
    results = scan.get("results")
    scanned: set[str] = set()
    if isinstance(results, list):
        for result in results:
            location = result.get("location") if isinstance(result, Mapping) else None
            if isinstance(location, Mapping) and isinstance(location.get("path"), str):
                scanned.add(location["path"])
    missing = [f for f in verification.signed_files() if clean_path(f) not in scanned]
    if not missing:
        return [*rules, _rule("scan-coverage", True, "every signed file was scanned.")]
    where = "the accepted scan attestation's report" if source == "attestation" else "the scan"
    return [
        *rules,
        _rule(
            "scan-coverage",
            False,
            f"{len(missing)} signed file(s) are missing from {where} (first: {missing[0]}); "
            "files under a version-control folder (.git, .hg, .svn) are never scanned, so a "
            "model must not ship them.",
        ),
    ]


def run_gate_on_copy(
    model_path: Path,
    policy: ModelPolicy,
    copy_to: Path,
    *,
    signature: Path | None = None,
    attestations: Sequence[Path] = (),
    trust_config: Path | None = None,
    allow_symlinks: bool = False,
    jobs: int = 0,
) -> GateResult:
    """Copy the model to a private folder, run the gate on the copy, publish it if allowed.

    The bytes the gate hashes and scans are those of the private copy (mode 0700 until it is
    published), so a writer of the original volume cannot swap a file between the check and its
    use: the model server reads ``copy_to``, which appears (by one ``rename``) only when the
    policy allowed it. A denied copy is deleted. Symbolic links are copied as the regular files
    they point to; FIFOs, sockets and devices stop the copy.

    Raises:
        UsageError: ``copy_to`` exists, or the model is not a folder.
        InputError: the model cannot be read or copied, or ``copy_to``'s folder not created.
    """
    import os
    import shutil

    from mlchain.errors import InputError, UsageError
    from mlchain.signing.tree import UnreadableModelError, list_model

    if os.path.lexists(copy_to):
        raise UsageError(
            f"--copy-to {copy_to} already exists.",
            hint="Give a new path: the verified copy is published there in one rename.",
        )
    if not model_path.is_dir():
        raise UsageError("--copy-to needs a model folder.")
    parent = copy_to.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--copy-to: cannot create the folder {parent}: {exc}.") from exc
    bundles = discover_attestations(model_path, attestations)  # read from beside the original
    try:
        tree = list_model(model_path)
    except UnreadableModelError:
        # Deny exactly as the in-place gate does (it names the folder); nothing is copied.
        return run_gate(
            model_path,
            policy,
            signature=signature,
            attestations=bundles,
            trust_config=trust_config,
            allow_symlinks=allow_symlinks,
            jobs=jobs,
        )
    staging = Path(tempfile.mkdtemp(prefix=f".{copy_to.name}.mlchain-", dir=parent))
    try:
        copy = staging / (model_path.absolute().name or "model")
        copy.mkdir()
        for rel, source, is_dir in tree.entries:
            target = copy / rel
            if is_dir:
                target.mkdir()
                continue
            try:
                _copy_regular(source, target)
            except OSError as exc:
                raise InputError(f"Cannot copy {rel} from the model: {exc}.") from exc
        result = run_gate(
            copy,
            policy,
            signature=signature,
            attestations=bundles,
            trust_config=trust_config,
            allow_symlinks=allow_symlinks,
            jobs=jobs,
        )
        if result.decision.allowed:
            copy.rename(copy_to)  # atomic: the server never sees a half-copied folder
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result


def _copy_regular(source: Path, target: Path) -> None:
    """Copy a regular file (a link: the file it names) without ever opening a special file."""
    import os
    import stat

    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(source, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{source.name} is not a regular file; it is not copied")
        with os.fdopen(os.dup(fd), "rb") as reader, target.open("xb") as writer:
            while chunk := reader.read(1 << 20):
                writer.write(chunk)
    finally:
        os.close(fd)
