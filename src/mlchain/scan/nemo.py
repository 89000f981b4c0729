"""NeMo archives (``.nemo``): the import paths ``model_config.yaml`` makes NeMo instantiate.

A ``.nemo`` file is a tar (optionally gzipped) of ``model_config.yaml`` and
``model_weights.ckpt`` (a torch zip). The tar and the checkpoint are scanned like any tar and torch
archive. ``restore_from`` then imports the class named by the config's ``target`` and Hydra's
``instantiate`` calls every ``_target_`` in it with the sibling keys as arguments: a config naming
``os.system``, ``builtins.eval`` or ``torch.load`` runs it on load. Each target is judged:

* classes under ``nemo.``, ``torch.nn.``/``torch.optim.``/``torch.utils.data.``, ``lightning.``/
  ``pytorch_lightning.``, ``omegaconf.`` and ``megatron.`` (the last name component a class,
  i.e. capitalised) are what NeMo configs hold: accepted;
* targets in modules that run commands or code, or load further files (``os``, ``subprocess``,
  ``builtins``, ``pickle``, ``torch.load``/``torch.hub``...): ``nemo-config-target`` critical;
* anything else: high.

The YAML is parsed with PyYAML's safe loader, size-bounded, and walked with a visited set so an
alias bomb cannot make the walk explode.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mlchain.models import Finding, Location, Severity
from mlchain.scan.base import MiB, finding

MAX_CONFIG_BYTES = 16 * MiB
MAX_NODES = 1_000_000
ACCEPTED_PREFIXES = (
    "nemo.",
    "torch.nn.",
    "torch.optim.",
    "torch.utils.data.",
    "lightning.",
    "pytorch_lightning.",
    "omegaconf.",
    "megatron.",
)
DANGEROUS_PREFIXES = (
    "os.", "posix.", "nt.", "subprocess.", "builtins.", "sys.", "shutil.", "socket.",
    "importlib.", "runpy.", "pickle.", "dill.", "cloudpickle.", "joblib.", "marshal.", "ctypes.",
    "pty.", "code.", "webbrowser.", "urllib.", "requests.", "http.", "functools.", "operator.",
    "torch.load", "torch.hub.", "torch.jit.load", "torch.package.", "numpy.load", "yaml.",
    "hydra.utils.",
)  # fmt: skip
_TARGET_KEYS = ("_target_", "target")


def targets(doc: Any) -> Iterator[tuple[str, str]]:
    """Yield ``(path, dotted name)`` for every Hydra ``_target_`` and NeMo ``target``."""
    stack: list[tuple[Any, str]] = [(doc, "$")]
    seen: set[int] = set()
    count = 0
    while stack and count < MAX_NODES:
        value, path = stack.pop()
        count += 1
        if isinstance(value, (dict, list)):
            if id(value) in seen:
                continue
            seen.add(id(value))
        if isinstance(value, dict):
            for key in _TARGET_KEYS:
                name = value.get(key)
                if isinstance(name, str):
                    yield f"{path}.{key}", name
            stack.extend((v, f"{path}.{k}") for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(value))


def grade(name: str) -> Severity | None:
    """``None`` for an accepted NeMo/torch class, else the severity of instantiating ``name``."""
    if any(name == p.rstrip(".") or name.startswith(p) for p in DANGEROUS_PREFIXES):
        return Severity.CRITICAL
    last = name.rsplit(".", 1)[-1]
    if name.startswith(ACCEPTED_PREFIXES) and last[:1].isupper():
        return None
    return Severity.HIGH


def check_config(data: bytes, location: Location) -> Iterator[Finding]:
    """Findings for a ``model_config.yaml``'s bytes."""
    import yaml

    if len(data) > MAX_CONFIG_BYTES:
        yield finding("scan-limit-exceeded", "model_config.yaml is too large to check", location)
        return
    try:
        doc = yaml.safe_load(data)
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        yield finding(
            "parse-error", "model_config.yaml does not parse as YAML", location, evidence=str(exc)
        )
        return
    reported = 0
    for path, name in targets(doc):
        severity = grade(name)
        if severity is None or reported >= 20:
            continue
        reported += 1
        yield finding(
            "nemo-config-target",
            f"model_config.yaml makes NeMo/Hydra instantiate {name!r} at {path} on load",
            location,
            evidence=name,
            severity=severity,
        )


__all__ = ["check_config", "grade", "targets"]
