"""Attack techniques against provenance, ML-BOM and attestation generation: one test each."""

from __future__ import annotations

import shutil
from pathlib import Path

from fixtures.canary import CANARY_COMMAND, CANARY_PATH

from helpers import FIXTURES
from mlchain.provenance.context import git_source
from mlchain.sbom.modelinfo import extract_model_info


def test_pyyaml_python_object_tag_in_model_card() -> None:
    """A model card whose front matter carries ``!!python/object/apply`` runs code under
    ``yaml.load``/``full_load`` (CVE-2020-14343,
    https://nvd.nist.gov/vuln/detail/CVE-2020-14343).
    mlchain reads front matter with ``yaml.safe_load`` only: the card is reported, never run."""
    model = FIXTURES / "hfmodel" / "malicious" / "yaml-tag-card"
    assert "!!python/object/apply" in (model / "README.md").read_text()
    info = extract_model_info(model, ["README.md", "config.json"])
    assert any("not valid YAML" in p for p in info.problems)
    assert not Path(CANARY_PATH).exists()


def test_git_config_command_in_untrusted_repository(tmp_path: Path) -> None:
    """Running git inside an attacker's repository executes commands from its config
    (``core.fsmonitor``; CVE-2022-24765, https://nvd.nist.gov/vuln/detail/CVE-2022-24765).
    The training-code commit is read from ``.git`` files; git is never run."""
    git = tmp_path / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "refs" / "heads" / "main").write_text("c" * 40 + "\n")
    (git / "config").write_text(
        f'[core]\n\tfsmonitor = "{CANARY_COMMAND}"\n\thooksPath = /tmp\n'
        '[remote "origin"]\n\turl = https://x-access-token:ghs_secret@github.com/a/b.git\n'
    )
    shutil.copytree(FIXTURES / "hfmodel" / "benign" / "tiny-llama", tmp_path / "model")
    source = git_source(tmp_path / "model")
    assert source is not None and source.commit == "c" * 40
    assert source.repository == "https://github.com/a/b"  # the token is not carried along
    assert not Path(CANARY_PATH).exists()
