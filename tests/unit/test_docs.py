"""Docs that are derived from code must not drift from it."""

from __future__ import annotations

import importlib.util

from helpers import REPO
from mlchain.rules import RULES


def _gen_rules() -> object:
    spec = importlib.util.spec_from_file_location("gen_rules", REPO / "docs" / "gen_rules.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_rule_has_an_up_to_date_page() -> None:
    pages = _gen_rules().expected_pages()  # type: ignore[attr-defined]
    rules_dir = REPO / "docs" / "rules"
    for rule_id in RULES:
        assert (rules_dir / f"{rule_id}.md").is_file(), f"run python docs/gen_rules.py ({rule_id})"
    for name, text in pages.items():
        assert (rules_dir / name).read_text(encoding="utf-8") == text, f"stale docs/rules/{name}"
    assert {p.name for p in rules_dir.glob("*.md")} == set(pages)


def test_docs_copy_of_report_schema_matches_package() -> None:
    packaged = REPO / "src" / "mlchain" / "schemas" / "report.schema.json"
    assert (REPO / "docs" / "schemas" / "report.schema.json").read_bytes() == packaged.read_bytes()


def test_rule_ids_are_kebab_slugs_with_remediation() -> None:
    for rule in RULES.values():
        assert rule.id == rule.id.lower() and " " not in rule.id
        assert rule.title and rule.description and rule.remediation
        assert rule.help_uri.endswith(f"/docs/rules/{rule.id}.md")


def test_exit_code_doc_matches_cli_enum() -> None:
    from mlchain.cli.errors import ExitCode

    text = (REPO / "docs" / "exit-codes.md").read_text()
    for code in ExitCode:
        assert f"| {int(code)} |" in text, code


def test_readme_lists_every_environment_variable() -> None:
    import re

    readme = (REPO / "README.md").read_text()
    cli_sources = "".join(p.read_text() for p in (REPO / "src" / "mlchain" / "cli").glob("*.py"))
    names = set(re.findall(r'envvar="(MLCHAIN_[A-Z_]+)"', cli_sources))
    assert names, "no environment variables found"
    missing = sorted(n for n in names if n not in readme)
    assert missing == []


def test_readme_has_exactly_two_setup_commands() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Set-up on a fresh machine", 1)[1].split("\n## ", 1)[0]
    commands = [line for line in section.splitlines() if line.startswith("pip install")]
    assert commands == [
        "pip install . && mlchain scan fixtures/",
        "pip install nox && nox -s tests",
    ]
    assert "nox -s tests" in (REPO / ".ci" / "run").read_text()


def test_every_command_has_a_docs_page() -> None:

    pages = {p.stem for p in (REPO / "docs").glob("*.md")}
    expected = {
        "scan": "scan",
        "sign": "signing",
        "verify": "signing",
        "policy": "policy",
        "provenance": "provenance",
        "sbom": "sbom",
        "attest": "attest",
        "verify-attestation": "attest",
        "keygen": "signing",
    }
    from mlchain.cli import COMMANDS  # registered lazily: the table is the list

    names = set(COMMANDS)
    assert names == set(expected)
    assert {expected[n] for n in names} <= pages


def test_no_package_or_container_registry_host_is_named() -> None:
    """Project rule: registry hosts never appear in code, docs or manifests (images use neutral
    names such as registry.example/...). The hosts are assembled here so this file names none."""
    import subprocess

    hosts = [
        ".".join(parts)
        for parts in (
            ("ghcr", "io"),
            ("docker", "io"),
            ("quay", "io"),
            ("gcr", "io"),
            ("pypi", "org"),
            ("pythonhosted", "org"),
            ("registry", "npmjs", "org"),
        )
    ]
    files = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    offenders = []
    for name in files:
        if name.startswith("tests/data/"):  # third-party schema files kept verbatim
            continue
        try:
            text = (REPO / name).read_text(encoding="utf-8", errors="ignore")
        except OSError:
            continue
        offenders += [f"{name}: {h}" for h in hosts if h in text]
    assert offenders == []
