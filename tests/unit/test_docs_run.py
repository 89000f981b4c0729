"""Every command in README.md and docs/*.md runs, and exits as documented (issue #18 item 7).

Each fenced ``sh``/``console`` block is split into commands (``console``: lines starting with
``$ ``; ``sh``: every line; a trailing ``\\`` continues a line). The blocks of one file run in
order in one temporary folder, as a reader following the page would, prepared with:

- ``models/llama`` and ``tiny-llama``: copies of ``fixtures/hfmodel/benign/tiny-llama``;
- ``evil.pkl``: a malicious pickle fixture (harmless payload), for the pages that name it;
- ``release.key``/``release.pub``: an unencrypted EC P-256 pair made by ``mlchain keygen``,
  unless the page makes its own with ``mlchain keygen``;
- ``train.yaml``: a training configuration.

``mlchain`` commands run in-process (CliRunner). The expected exit code is 0 unless the line's
comment says ``exits N``. A few shell commands are emulated (``export``, ``mkdir -p``,
``echo … >> FILE``, ``cp``); everything else is listed below with the reason it does not run
here. Relative Markdown links must resolve, too.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlchain.cli import app

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FIXTURES = ROOT / "fixtures"
EVIL = FIXTURES / "pickle" / "malicious" / "build_setstate_injection.pkl"

# Commands that need the network (Sigstore, the Hugging Face Hub) or a CI identity.
NEEDS_NETWORK = {
    "mlchain scan hf://org/name@main": "the Hugging Face Hub",
    "mlchain sign models/llama": "Sigstore keyless signing (CI OIDC token, Fulcio, Rekor)",
    "mlchain provenance ./tiny-llama --sign -o provenance.sigstore.json": (
        "Sigstore keyless signing (CI OIDC token, Fulcio, Rekor)"
    ),
}
# Commands that need what a test cannot have here, by their first word (or the whole line).
NOT_RUN = {
    "pip": "installs packages (CI installs them before the suite)",
    "nox": "runs this very suite",
    "podman": "needs a container runtime",
    "kubectl": "needs a cluster",
    "echo $?": "the previous command's exit code is asserted instead",
    "(cd": "lists a registry's folders on a storage host (docs/scale.md)",
    "PYTHONPATH=src": "runs a benchmark (minutes; numbers in the docs come from it)",
    "RAY_ADDRESS=ray://head.example:10001": "a Ray cluster (tests/unit/scan/test_executors.py "
    "starts a local one)",
}
# Whole-line placeholders for things a reader has and a test cannot make.
NEEDS_KEYLESS = {
    "mlchain verify models/llama --identity release@example.org "
    "--issuer https://accounts.example.org": "a keylessly signed model (signed in CI)",
    "mlchain scan ~/.cache/huggingface/hub/models--org--name": "a model in the local Hugging Face "
    "cache (docs/huggingface.md)",
    "mlchain verify-attestation provenance.sigstore.json ./tiny-llama --identity "
    "https://github.com/acme/models/.github/workflows/train.yml@refs/heads/main "
    "--issuer https://token.actions.githubusercontent.com": "the keyless bundle made above",
}


@dataclass(frozen=True)
class Command:
    """One documented command: where it is, its text, and the exit code the doc promises."""

    where: str
    text: str
    exit_code: int


def _commands(doc: Path) -> list[Command]:
    text = doc.read_text(encoding="utf-8")
    found: list[Command] = []
    for block in re.finditer(r"^```(console|sh)\n(.*?)^```", text, re.S | re.M):
        first_line = text[: block.start()].count("\n") + 1
        lines = block.group(2).splitlines()
        index = 0
        while index < len(lines):
            line = lines[index]
            number = first_line + 1 + index
            index += 1
            if block.group(1) == "console":
                if not line.startswith("$ "):
                    continue  # output
                line = line[2:]
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            while line.rstrip().endswith("\\") and index < len(lines):
                line = line.rstrip()[:-1] + " " + lines[index].strip()
                index += 1
            command, _, comment = line.partition(" #")
            expected = re.search(r"\bexits (\d+)", comment)
            found.append(
                Command(
                    f"{doc.relative_to(ROOT)}:{number}",
                    " ".join(command.split()),
                    int(expected.group(1)) if expected else 0,
                )
            )
    return found


def _skip_reason(command: str) -> str | None:
    if "oci://" in command:
        # an OCI registry: tests/oci runs these commands against a real one on loopback
        return "network: an OCI registry (covered by tests/oci against a local registry)"
    if command in NEEDS_NETWORK:
        return "network: " + NEEDS_NETWORK[command]
    if command in NEEDS_KEYLESS:
        return "needs " + NEEDS_KEYLESS[command]
    if command in NOT_RUN:
        return NOT_RUN[command]
    return NOT_RUN.get(command.split()[0])


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("keys")
    made = CliRunner().invoke(
        app,
        ["keygen", "--output-key-prefix", str(folder / "release")],
        env={"MLCHAIN_KEY_PASSWORD": ""},
    )
    assert made.exit_code == 0, made.output
    return folder


def _workspace(tmp_path: Path, keys: Path | None, *, evil: bool) -> Path:
    shutil.copytree(FIXTURES / "hfmodel" / "benign" / "tiny-llama", tmp_path / "models" / "llama")
    shutil.copytree(FIXTURES / "hfmodel" / "benign" / "tiny-llama", tmp_path / "tiny-llama")
    if evil:
        shutil.copy(EVIL, tmp_path / "evil.pkl")
    (tmp_path / "train.yaml").write_text("epochs: 3\nlr: 3.0e-4\n")
    for name in ("release.key", "release.pub") if keys is not None else ():
        shutil.copy(keys / name, tmp_path / name)
    return tmp_path


def _run(command: str, cwd: Path, exported: dict[str, str]) -> int:
    """Run one documented command in ``cwd``; returns its exit code.

    ``exported`` holds the variables earlier ``export`` lines of the page set.
    """
    if ">>" in command and command.startswith("echo "):
        words, _, target = command.partition(">>")
        with (cwd / target.strip()).open("a") as f:
            f.write(" ".join(shlex.split(words)[1:]) + "\n")
        return 0
    argv = shlex.split(command.split(" | ")[0])  # `| jq .` only pretty-prints
    env: dict[str, str] = {}
    while argv and re.fullmatch(r"[A-Z_]+=.*", argv[0]):
        name, _, value = argv.pop(0).partition("=")
        env[name] = value
    if argv[0] == "export":
        for assignment in argv[1:]:
            name, _, value = assignment.partition("=")
            exported[name] = value
        return 0
    if argv[:2] == ["mkdir", "-p"]:
        for folder in argv[2:]:
            (cwd / folder).mkdir(parents=True, exist_ok=True)
        return 0
    if argv[0] == "cp":
        shutil.copy(cwd / argv[1], cwd / argv[2])
        return 0
    assert argv[0] == "mlchain", f"no emulation for {command!r}: add it, or list it in NOT_RUN"
    argv = [os.path.expanduser(a) for a in argv[1:]]
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(app, argv, env={**exported, **env})
    finally:
        os.chdir(previous)
    return result.exit_code


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_documented_commands_run(doc: Path, tmp_path: Path, keys: Path) -> None:
    commands = _commands(doc)
    if not commands:
        pytest.skip("no commands")
    makes_keys = any(c.text.startswith("mlchain keygen") for c in commands)
    evil = any("evil.pkl" in c.text for c in commands)
    cwd = _workspace(tmp_path, None if makes_keys else keys, evil=evil)
    exported: dict[str, str] = {}
    failures = []
    for command in commands:
        if _skip_reason(command.text) is not None:
            continue
        code = _run(command.text, cwd, exported)
        if code != command.exit_code:
            failures.append(
                f"{command.where}: `{command.text}` exited {code}, the doc says {command.exit_code}"
            )
    assert not failures, "\n".join(failures)


def test_every_skipped_command_is_still_documented() -> None:
    """The lists above name commands that exist: a stale entry would hide nothing."""
    documented = {c.text for doc in DOCS for c in _commands(doc)}
    for command in (*NEEDS_NETWORK, *NEEDS_KEYLESS):
        assert command in documented, command


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
NAMED_PAGE = re.compile(r"`((?:docs/)?[\w./-]+\.md)`")


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.S | re.M)
    headings = re.findall(r"^#+ (.+)$", text, re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc: Path) -> None:
    """Every relative link (and its #anchor) resolves; a page named in backticks exists."""
    text = re.sub(r"^```.*?^```", "", doc.read_text(encoding="utf-8"), flags=re.S | re.M)
    broken = []
    for match in LINK.finditer(text):
        target = match.group(1)
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        page = (doc.parent / path) if path else doc
        if not page.exists():
            broken.append(target)
        elif anchor and page.suffix == ".md" and anchor not in _anchors(page):
            broken.append(target)
    for match in NAMED_PAGE.finditer(text):
        name = match.group(1)
        if not ((ROOT / name).exists() or (doc.parent / name).exists()):
            broken.append(name)
    assert not broken, f"{doc.relative_to(ROOT)}: broken links {broken}"
