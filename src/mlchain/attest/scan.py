"""Scan attestations: "these exact files were scanned by mlchain X with this result".

An in-toto Statement v1 over the same subjects as the provenance and the OMS signature, with the
predicate type ``https://mlchain.dev/attestations/scan/v1`` (documented in ``docs/attest.md``):

.. code-block:: json

    {"scanner": {"name": "mlchain", "version": "0.1.0"},
     "policy": {"failOn": "medium", "strict": false, "allowGlobals": []},
     "verdict": "pass",
     "maxSeverity": null,
     "findings": {"critical": 0, "high": 0, "medium": 0, "low": 0, "info": 0},
     "notScanned": [],
     "subjectHashing": {"algorithm": "sha256", "ignore": ["model.sig"]},
     "report": {... the JSON of `mlchain scan -f json` ...}}

The verdict is ``fail`` when a finding reaches ``failOn``, when ``strict`` and a file was not
scanned, or when a subject file is missing from the scan report (fail closed: an attestation must
never vouch for bytes the scan did not see).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from mlchain import __version__
from mlchain.intoto import MLCHAIN_SCAN_V1, rfc3339, statement, subjects
from mlchain.models import ScanReport, Severity

SCAN_PREDICATE_TYPE = MLCHAIN_SCAN_V1


def scan_predicate(
    report: ScanReport,
    digests: Mapping[str, str],
    *,
    fail_on: Severity | None,
    strict: bool,
    ignore: Sequence[str] = (),
    finished_on: dt.datetime | None = None,
) -> dict[str, Any]:
    """Build the scan predicate for ``report`` over the files in ``digests``."""
    from mlchain.output.json import report_to_dict
    from mlchain.sanitize import clean_path

    # The scan report carries sanitised paths (control characters escaped), so compare in that
    # form. The verdict covers every result, so two names that sanitise alike lose nothing.
    scanned = {str(r.location.path) for r in report.results}
    uncovered = sorted(name for name in digests if clean_path(name) not in scanned)
    failed = report.exceeds(fail_on, strict=strict) or bool(uncovered)
    counts = report.counts()
    predicate: dict[str, Any] = {
        "scanner": {"name": "mlchain", "version": __version__},
        "policy": {
            "failOn": "never" if fail_on is None else fail_on.label,
            "strict": strict,
            "allowGlobals": list(report.allowlist_additions),
        },
        "verdict": "fail" if failed else "pass",
        "maxSeverity": None if report.max_severity is None else report.max_severity.label,
        "findings": {s.label: counts[s] for s in reversed(Severity)},
        "notScanned": sorted(str(r.location.path) for r in report.not_scanned),
        "subjectHashing": {"algorithm": "sha256", "ignore": sorted(ignore)},
        "report": report_to_dict(report),
    }
    if uncovered:
        predicate["notInReport"] = uncovered
    if finished_on is not None:
        predicate["scanFinishedOn"] = rfc3339(finished_on)
    return predicate


def build_scan_attestation(
    report: ScanReport,
    digests: Mapping[str, str],
    *,
    fail_on: Severity | None,
    strict: bool,
    ignore: Sequence[str] = (),
    finished_on: dt.datetime | None = None,
) -> dict[str, Any]:
    """Return the in-toto Statement v1 for a scan of the model whose files are ``digests``."""
    predicate = scan_predicate(
        report, digests, fail_on=fail_on, strict=strict, ignore=ignore, finished_on=finished_on
    )
    return statement(subjects(digests), SCAN_PREDICATE_TYPE, predicate)
