"""NeMo ``.nemo`` archives: Hydra/NeMo import targets in model_config.yaml (#14, item 8).

NeMo itself is not installed (it pulls most of the ML stack); the archives are built here in
NeMo's documented layout: a tar of ``model_config.yaml`` and ``model_weights.ckpt`` (a real torch
zip from ``fixtures/containers``), plain or gzipped as ``save_to`` writes them.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from mlchain.models import Severity
from mlchain.scan import scan_paths
from mlchain.scan.nemo import grade

CONTAINERS = Path(__file__).resolve().parents[3] / "fixtures" / "containers" / "benign"

BENIGN_CONFIG = b"""
target: nemo.collections.asr.models.ctc_models.EncDecCTCModel
sample_rate: 16000
preprocessor:
  _target_: nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor
  features: 64
encoder:
  _target_: nemo.collections.asr.modules.ConvASREncoder
  jasper: &block
    - filters: 64
  activation: relu
decoder:
  _target_: nemo.collections.asr.modules.ConvASRDecoder
  num_classes: 28
optim:
  name: adamw
  sched:
    name: CosineAnnealing
train_ds:
  batch_size: 8
  shuffle: true
copy_of_block: *block
"""


def nemo_archive(tmp_path: Path, config: bytes, *, gz: bool = False) -> Path:
    weights = next(CONTAINERS.glob("torch_*.pt"))
    path = tmp_path / "model.nemo"
    with tarfile.open(path, "w:gz" if gz else "w") as tar:
        for name, data in (
            ("./model_config.yaml", config),
            ("./model_weights.ckpt", weights.read_bytes()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def found(path: Path) -> set[tuple[str, Severity]]:
    return {(f.rule_id, f.severity) for f in scan_paths([path]).findings}


@pytest.mark.parametrize("gz", [False, True])
def test_benign_nemo_archive_passes(tmp_path: Path, gz: bool) -> None:
    assert not {
        f for f in found(nemo_archive(tmp_path, BENIGN_CONFIG, gz=gz)) if f[1] >= Severity.MEDIUM
    }


@pytest.mark.parametrize("gz", [False, True])
def test_hydra_target_os_system(tmp_path: Path, gz: bool) -> None:
    # Hydra instantiate calls _target_ with the sibling keys (mlchain issue #14, item 8).
    config = BENIGN_CONFIG + b"evil:\n  _target_: os.system\n  command: touch /tmp/x\n"
    assert ("nemo-config-target", Severity.CRITICAL) in found(nemo_archive(tmp_path, config, gz=gz))


def test_hydra_target_torch_load_of_another_file(tmp_path: Path) -> None:
    config = BENIGN_CONFIG + b"extra:\n  _target_: torch.load\n  f: /tmp/other.pt\n"
    assert ("nemo-config-target", Severity.CRITICAL) in found(nemo_archive(tmp_path, config))


def test_model_target_outside_nemo(tmp_path: Path) -> None:
    config = BENIGN_CONFIG.replace(
        b"target: nemo.collections.asr.models.ctc_models.EncDecCTCModel",
        b"target: thirdparty.models.Model",
    )
    assert ("nemo-config-target", Severity.HIGH) in found(nemo_archive(tmp_path, config))


def test_alias_bomb_config_is_bounded(tmp_path: Path) -> None:
    lines = [b"a0: &a0 [x, x]"]
    lines += [b"a%d: &a%d [*a%d, *a%d]" % (i, i, i - 1, i - 1) for i in range(1, 40)]
    config = b"\n".join(lines) + b"\n"
    assert not {f for f in found(nemo_archive(tmp_path, config)) if f[1] >= Severity.HIGH}


@pytest.mark.parametrize(
    ("name", "severity"),
    [
        ("nemo.collections.nlp.models.TokenClassificationModel", None),
        ("torch.optim.AdamW", None),
        ("nemo.collections.asr.helpers.some_function", Severity.HIGH),
        ("builtins.exec", Severity.CRITICAL),
        ("subprocess.Popen", Severity.CRITICAL),
        ("mypkg.Layer", Severity.HIGH),
    ],
)
def test_grade(name: str, severity: Severity | None) -> None:
    assert grade(name) is severity
