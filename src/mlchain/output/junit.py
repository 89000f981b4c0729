"""JUnit XML, as CI systems (GitLab, Jenkins, Azure, CircleCI) show test reports.

One test suite per run, one test case per scanned file. A file fails when it has a finding at or
above the gate (``--fail-on``): one ``<failure>`` per such finding. Findings below the gate go to
the case's ``<system-out>``; a file that was not scanned is ``<skipped>`` with the reason. The
XML is built with ElementTree, so names and messages from hostile files are escaped.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from mlchain.models import Finding, ScanReport, ScanResult, Severity
from mlchain.output.base import Formatter

# XML 1.0 forbids most control characters even when escaped; findings are sanitised already,
# but file names may still carry them (they are shown escaped in every other format).
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml(text: str) -> str:
    return _XML_ILLEGAL.sub("\ufffd", text)


class JunitFormatter(Formatter):
    """Renders a report as JUnit XML; findings at or above ``fail_on`` are failures."""

    def __init__(self, *, fail_on: Severity | None = Severity.MEDIUM) -> None:
        self.fail_on = fail_on

    def _fails(self, finding: Finding) -> bool:
        return self.fail_on is not None and finding.severity >= self.fail_on

    def render(self, report: ScanReport) -> str:
        """Return the XML document."""
        suites = ET.Element("testsuites", name="mlchain")
        suite = ET.SubElement(suites, "testsuite", name="mlchain scan")
        failures = skipped = 0
        for result in report.results:
            case = self._case(suite, result)
            failures += int(case.find("failure") is not None)
            skipped += int(case.find("skipped") is not None)
        for element in (suites, suite):
            element.set("tests", str(len(report.results)))
            element.set("failures", str(failures))
            element.set("errors", "0")
        suite.set("skipped", str(skipped))
        ET.indent(suites)
        return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"

    def _case(self, suite: ET.Element, result: ScanResult) -> ET.Element:
        name = _xml(result.location.display())
        case = ET.SubElement(
            suite, "testcase", name=name, classname=f"mlchain.{result.format.value}", file=name
        )
        below: list[str] = []
        for finding in result.findings:
            line = _xml(
                f"[{finding.severity.label}] {finding.rule_id} at {finding.location.display()}: "
                f"{finding.message}" + (f" ({finding.evidence})" if finding.evidence else "")
            )
            if self._fails(finding):
                failure = ET.SubElement(
                    case,
                    "failure",
                    message=_xml(f"{finding.rule_id}: {finding.message}"),
                    type=finding.severity.label,
                )
                failure.text = line
            else:
                below.append(line)
        if result.skipped is not None and not result.findings:
            ET.SubElement(case, "skipped", message=_xml(f"not scanned: {result.skipped}"))
        if below:
            ET.SubElement(case, "system-out").text = "\n".join(below)
        return case
