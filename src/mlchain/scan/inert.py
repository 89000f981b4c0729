"""Files that are not model formats: plain text, images, unrecognised binaries.

Text and images are recognised as inert (no model loader deserializes them). One text hazard is
checked: YAML tags that make PyYAML's unsafe loaders construct Python objects (``!!python/object``,
``!!python/name``, ...), the way training configs and model cards have been weaponised
(CVE-2020-14343 and kin). Anything else is reported as not scanned: mlchain never calls an unknown
binary clean.
"""

from __future__ import annotations

from collections.abc import Iterator

from mlchain.models import Finding
from mlchain.scan.base import Artifact, Outcome, ScanContext, Skip
from mlchain.scan.magic import is_image, is_known_inert
from mlchain.scan.pickle_sniff import OPCODE_BYTES

UNRECOGNISED = "unrecognised content: no model format detected"


class InertScanner:
    """Accepts text and images; anything else becomes "not scanned: unrecognised content"."""

    def scan(self, artifact: Artifact, ctx: ScanContext) -> Iterator[Outcome]:
        """Yield YAML-tag findings for text; a :class:`Skip` for unrecognised binaries."""
        head = artifact.head or _read_head(artifact)
        if not is_known_inert(head[:4096]):
            yield Skip(UNRECOGNISED)
            return
        if is_image(head):
            return
        yield from _text_pickle(artifact, ctx, head)
        from mlchain.scan.yaml_tags import yaml_tag_findings

        yield from yaml_tag_findings(artifact, ctx)


def _text_pickle(artifact: Artifact, ctx: ScanContext, head: bytes) -> Iterator[Finding]:
    """Defence in depth: text that the VM parses as a complete pickle is judged as one.

    Protocol 0 pickles are text. Detection's sniff decides cheaply; if it ever disagrees with the
    loader (as it once did on base-0 integer literals), the authoritative VM still gets a look at
    any text that starts with an opcode, and a complete pickle's findings are reported.
    """
    if not head or head[0] not in OPCODE_BYTES:
        return
    from mlchain.scan.pickle.vm import scan_pickle  # the VM only for text that may be a pickle

    if len(head) == artifact.size:
        data = head
    else:
        with artifact.path.open("rb") as handle:  # bounded: a text pickle this long is a limit case
            data = handle.read(min(artifact.size, 1 << 20))
    result = scan_pickle(data, artifact.location, ctx, max_pickles=1)
    if result.pickles >= 1:
        yield from result.findings


def _read_head(artifact: Artifact) -> bytes:
    with artifact.path.open("rb") as handle:
        return handle.read(4096)
