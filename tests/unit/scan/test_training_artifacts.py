"""Training artifacts written by the real libraries pass the default gate (issue 14, item 3).

The files under ``fixtures/training/benign/`` were produced by ``fixtures/gen_training.py`` with
the real libraries (versions in its README and MANIFEST.json); those libraries are not test
dependencies. Each file must scan with no finding at or above medium, and the scan must really
have looked at it: its format is recognised and its pickle's globals are the ones the library
writes (so a test that silently scanned nothing cannot pass).
"""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path, PurePosixPath

import pytest

from helpers import FIXTURES
from mlchain.models import Location, Severity
from mlchain.scan import scan_paths
from mlchain.scan.base import ScanContext, ScanOptions
from mlchain.scan.pickle import scan_pickle
from pickle_vm_helpers import InertStub

TRAINING = FIXTURES / "training" / "benign"
MANIFEST = json.loads((TRAINING / "MANIFEST.json").read_text(encoding="utf-8"))
FILES = sorted(TRAINING / f for group in MANIFEST.values() for f in group["files"])

EXPECTED_GLOBALS: dict[str, set[str]] = {
    "transformers5-checkpoint/training_args.bin": {
        "transformers.training_args.TrainingArguments",
        "transformers.trainer_utils.IntervalStrategy",
        "transformers.trainer_utils.SaveStrategy",
        "transformers.trainer_utils.SchedulerType",
        "transformers.training_args.OptimizerNames",
        "transformers.trainer_pt_utils.AcceleratorConfig",
        "accelerate.state.PartialState",
        "accelerate.utils.dataclasses.DistributedType",
    },
    "transformers4-checkpoint/training_args.bin": {
        "transformers.training_args.TrainingArguments",
        "transformers.trainer_utils.IntervalStrategy",
        "accelerate.utils.dataclasses.DistributedType",
    },
    "transformers5-checkpoint/rng_state.pth": {
        "numpy._core.multiarray._reconstruct",
        "numpy.dtype",
        "torch._utils._rebuild_tensor_v2",
    },
    "torch/optimizer_adamw.pt": {"torch._utils._rebuild_tensor_v2"},
    "timm/last.pth.tar": {"argparse.Namespace", "torch._utils._rebuild_tensor_v2"},
    "optuna/study.pkl": {
        "optuna.study.study.Study",
        "optuna.storages._in_memory.InMemoryStorage",
        "optuna.trial._frozen.FrozenTrial",
        "optuna.trial._state.TrialState",
        "optuna.study._study_direction.StudyDirection",
        "optuna.samplers._tpe.sampler.TPESampler",
    },
    "optuna/sampler_cmaes.pkl": {"optuna.samplers._cmaes.CmaEsSampler"},
    "pandas/dataframe.pkl": {
        "pandas.DataFrame",
        "pandas.Categorical",
        "pandas.DatetimeTZDtype",
        "pandas._libs.internals._unpickle_block",
        "pandas.core.indexes.base._new_Index",
    },
    "pandas/series_period.pkl": {"pandas.Series", "pandas.PeriodDtype"},
    "sklearn/gridsearch_multi.pkl": {
        "sklearn.model_selection._search.GridSearchCV",
        "sklearn.metrics._scorer._Scorer",
        "sklearn.metrics._classification.f1_score",
        "sklearn.metrics._ranking.roc_auc_score",
    },
    "sklearn/forest.pkl": {
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.tree._tree.Tree",
    },
    "sklearn/pipeline.joblib": {
        "sklearn.pipeline.Pipeline",
        "joblib.numpy_pickle.NumpyArrayWrapper",
    },
}


def _pickle_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if data[:2] == b"PK":
        with zipfile.ZipFile(path) as archive:
            name = next(n for n in archive.namelist() if n.endswith("/data.pkl"))
            return archive.read(name)
    return data


def _globals(path: Path) -> set[str]:
    result = scan_pickle(
        _pickle_bytes(path),
        Location(PurePosixPath(path.name)),
        ScanContext(ScanOptions()),
    )
    assert result.pickles >= 1
    return {f"{m}.{n}" for m, n in result.globals}


def test_the_corpus_covers_every_artifact_kind() -> None:
    assert set(MANIFEST) == {
        "transformers4",
        "transformers5",
        "torch",
        "accelerate",
        "lightning",
        "timm",
        "optuna",
        "pandas",
        "sklearn",
    }
    assert len(FILES) >= 30
    assert all(p.is_file() for p in FILES)
    total = sum(p.stat().st_size for p in TRAINING.rglob("*") if p.is_file())
    assert total < 2 * 1024 * 1024


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(TRAINING)))
def test_training_artifact_passes_the_default_gate(path: Path) -> None:
    report = scan_paths([path], ScanOptions(jobs=1))
    assert len(report.results) >= 1
    assert all(r.skipped is None for r in report.results), [r.skipped for r in report.results]
    loud = [(f.rule_id, f.message) for f in report.findings if f.severity >= Severity.MEDIUM]
    assert loud == []


@pytest.mark.parametrize("name", sorted(EXPECTED_GLOBALS))
def test_training_artifact_globals_are_what_the_library_writes(name: str) -> None:
    seen = _globals(TRAINING / name)
    assert EXPECTED_GLOBALS[name] <= seen, sorted(seen)


def test_transformers_checkpoint_files_are_scanned_as_torch_zips() -> None:
    for major in ("4", "5"):
        folder = TRAINING / f"transformers{major}-checkpoint"
        report = scan_paths([folder], ScanOptions(jobs=1))
        formats = {r.location.path.name: r.format.value for r in report.results}
        assert set(formats) == {
            "training_args.bin",
            "optimizer.pt",
            "scheduler.pt",
            "rng_state.pth",
        }
        assert report.max_severity is None or report.max_severity < Severity.MEDIUM


def _cpython_asked(data: bytes) -> tuple[set[str], bool]:
    """Globals CPython's unpickler asks find_class for (stubs only, nothing is imported)."""
    asked: set[str] = set()

    class Recorder(pickle.Unpickler):  # noqa: TID251 - stub-only recording loader
        def find_class(self, module: str, name: str) -> type:
            asked.add(f"{module}.{name}")
            return InertStub

        def persistent_load(self, pid: object) -> object:
            return InertStub()

    try:
        Recorder(io.BytesIO(data)).load()  # stubs only: find_class imports nothing
    except Exception:
        return asked, False
    return asked, True


@pytest.mark.parametrize(
    "path",
    [p for p in FILES if p.suffix != ".joblib"],
    ids=lambda p: str(p.relative_to(TRAINING)),
)
def test_training_pickle_globals_match_cpython(path: Path) -> None:
    """Differential: the VM sees exactly the globals CPython's loader would resolve."""
    data = _pickle_bytes(path)
    theirs, ok = _cpython_asked(data)
    assert ok
    assert _globals(path) == theirs
