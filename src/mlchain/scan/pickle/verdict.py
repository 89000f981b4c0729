"""The verdict on the globals one pass of the VM saw: allowlist, danger list, grade.

A pure function of how each global was used (:class:`~.machine.Usage`, collected while the
machine emulates) and the globals the user allowed; it returns the events the machine then
turns into findings. Emulating and judging stay apart, as fickling keeps its interpreter apart
from its analyses.
"""

from __future__ import annotations

from collections.abc import Mapping

from mlchain.scan.pickle import allowlist, dangerous
from mlchain.scan.pickle.machine import Event, Usage
from mlchain.scan.pickle.values import render


def judge_globals(usage: Mapping[tuple[str, str], Usage], allowed: frozenset[str]) -> list[Event]:
    """Grade every resolved ``(module, name)`` by how the stream used it, in usage order."""
    events: list[Event] = []

    def event(rule: str, message: str, offset: int, evidence: str | None) -> None:
        events.append(Event(rule, message, offset, evidence, None))

    for (module, name), use in usage.items():
        mod, nm = module, name
        qual = raw = f"{mod}.{nm}"
        offset = use.call.offset if use.call is not None else use.offset
        evidence = render(use.call) if use.call is not None else raw
        if qual in allowed:
            continue
        if allowlist.is_allowlisted(mod, nm):
            if use.bad_use is not None:
                event(
                    "pickle-unknown-call",
                    f"calls {qual} in a shape its libraries never write",
                    use.bad_use.offset,
                    render(use.bad_use),
                )
            continue
        danger = dangerous.danger_of(mod, nm)
        if danger is not None:
            if use.calls:
                event(
                    "pickle-dangerous-call",
                    f"calls {qual}: {danger.reason} (matched {danger.matched})",
                    offset,
                    evidence,
                )
            else:
                event(
                    "pickle-dangerous-import",
                    f"imports {qual}: {danger.reason} (matched {danger.matched})",
                    use.offset,
                    raw,
                )
        elif allowlist.is_reconstructable(mod, nm) and (
            not use.calls or allowlist.looks_like_class(nm)
        ):
            how = (
                "rebuilds an instance of"
                if use.reconstructed or use.calls
                else "references (never calls)"
            )
            event(
                "pickle-class-reconstruction",
                f"{how} {qual} from a well-known ML library",
                offset,
                evidence,
            )
        elif use.calls:
            event(
                "pickle-unknown-call",
                f"calls {qual}, which is not on the allowlist",
                offset,
                evidence,
            )
        else:
            event(
                "pickle-unknown-import",
                f"imports {qual}, which is not on the allowlist",
                use.offset,
                raw,
            )
    return events
