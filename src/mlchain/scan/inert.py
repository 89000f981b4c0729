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
from mlchain.scan.magic import Probe, is_image, is_known_inert, starts_with_pickle

UNRECOGNISED = "unrecognised content: no model format detected"


class InertScanner:
    """Accepts text and images; anything else becomes "not scanned: unrecognised content"."""

    def scan(self, artifact: Artifact, ctx: ScanContext) -> Iterator[Outcome]:
        """Yield YAML-tag findings for text; a :class:`Skip` for unrecognised binaries."""
        from mlchain.scan.yaml_tags import is_utf16_yaml, yaml_tag_findings

        head = artifact.head or _read_head(artifact)
        if is_utf16_yaml(artifact.path.name, head):
            # Text to PyYAML, which reads UTF-16 by its byte-order mark: checked like any YAML.
            yield from yaml_tag_findings(artifact, ctx)
            return
        if not is_known_inert(head[:4096]):
            yield Skip(UNRECOGNISED)
            return
        if is_image(head):
            return
        yield from _text_pickle(artifact, ctx, head)
        yield from yaml_tag_findings(artifact, ctx)


def named_file_pickle(artifact: Artifact, ctx: ScanContext) -> Iterator[Outcome]:
    """The pickle check of a file whose format came from its name (Python, Jinja, JSON configs).

    Names decide only among text formats, so ``config.json``, ``modeling_x.py`` or
    ``chat_template.jinja`` holding a text pickle (protocol 0/1, or any opcode first) was once
    scanned only as what its name says, while ``pickle.load``/``torch.load`` of that file runs
    it (mlchain issue #13, class 2: every byte sequence a loader would execute must reach the
    VM). The content gets the same sniff as any file; when it could be a pickle, the pickle
    scanner judges all of it, as it would judge a ``.pkl``. Otherwise, text starting with an
    opcode still gets the VM's look, as unrecognised text does.
    """
    from mlchain.scan.pickle_sniff import OPCODE_BYTES  # on first use (pickletools: ~3 ms)

    head = artifact.head or _read_head(artifact)
    if not head or (head[0] not in OPCODE_BYTES and head[0] != 0x80):
        return  # JSON ('{', '['), comments, docstrings, whitespace: no loader starts a pickle
    if starts_with_pickle(Probe.of_file(artifact.path, head, artifact.size)):
        from mlchain.scan.pickle.scanner import PickleScanner

        yield from PickleScanner().scan(artifact, ctx)
        return
    yield from _text_pickle(artifact, ctx, head)


def _text_pickle(artifact: Artifact, ctx: ScanContext, head: bytes) -> Iterator[Finding]:
    """Defence in depth: text that the VM parses as a complete pickle is judged as one.

    Protocol 0 pickles are text. Detection's sniff decides cheaply; if it ever disagrees with the
    loader (as it once did on base-0 integer literals), the authoritative VM still gets a look at
    any text that starts with an opcode, and a complete pickle's findings are reported.
    """
    from mlchain.scan.pickle_sniff import OPCODE_BYTES

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
