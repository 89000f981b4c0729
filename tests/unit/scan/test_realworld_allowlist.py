"""Fitted scikit-learn models from the real-world corpus pass the default gate (issue 14).

``benchmarks/realworld.py`` found (Hist)GradientBoosting and nearest-neighbour pickles failing
``--fail-on medium``: their loss/link objects, ``_BinMapper``, ``TreePredictor``, the Cython
loss objects and the ``KDTree``/``BallTree``/``DistanceMetric`` objects rebuilt through the
Cython ``newObj`` helpers were not on the allowlist; nor were multiclass HistGradientBoosting
(Cython's generated ``__pyx_unpickle_CyHalfMultinomialLoss``) and the XGBoost, LightGBM and
CatBoost estimators and boosters. The files in ``fixtures/realworld/`` were written by the real
libraries (``fixtures/gen_realworld.py``; versions in its README and MANIFEST.json). The new
entries admit those globals only in the shapes the libraries write; the other shapes stay high.
"""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path, PurePosixPath

import pytest

from helpers import FIXTURES
from mlchain.models import Location, Severity
from mlchain.scan import scan_paths
from mlchain.scan.base import ScanContext, ScanOptions
from mlchain.scan.pickle import scan_pickle
from mlchain.scan.pickle.allowlist import ALLOWLIST_VERSION
from pickle_vm_helpers import InertStub

REALWORLD = FIXTURES / "realworld"
MANIFEST = json.loads((REALWORLD / "MANIFEST.json").read_text(encoding="utf-8"))
FILES = sorted(REALWORLD / name for name in MANIFEST["files"])

EXPECTED_GLOBALS: dict[str, set[str]] = {
    "gb_classifier.pkl": {
        "sklearn._loss.loss.HalfBinomialLoss",
        "sklearn._loss.link.LogitLink",
        "sklearn._loss.link.Interval",
        "sklearn._loss._loss.CyHalfBinomialLoss",
    },
    "gb_regressor_huber.pkl": {"sklearn._loss.loss.HuberLoss", "sklearn._loss._loss.CyHuberLoss"},
    "gb_regressor_quantile.pkl": {
        "sklearn._loss.loss.PinballLoss",
        "sklearn._loss._loss.CyPinballLoss",
    },
    "hgb_classifier.pkl": {
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn._loss._loss.CyHalfBinomialLoss",
    },
    "hgb_regressor_poisson.pkl": {
        "sklearn._loss.loss.HalfPoissonLoss",
        "sklearn._loss.link.LogLink",
        "sklearn._loss._loss.CyHalfPoissonLoss",
    },
    "hgb_regressor_gamma.pkl": {"sklearn._loss.loss.HalfGammaLoss"},
    "knn_kd_tree.pkl": {
        "sklearn.neighbors._kd_tree.newObj",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.metrics._dist_metrics.newObj",
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
    },
    "knn_ball_tree_manhattan.pkl": {
        "sklearn.neighbors._ball_tree.newObj",
        "sklearn.neighbors._ball_tree.BallTree",
        "sklearn.metrics._dist_metrics.ManhattanDistance64",
    },
    "nn_ball_tree_haversine.pkl": {"sklearn.metrics._dist_metrics.HaversineDistance64"},
    "hgb_multiclass.pkl": {
        "sklearn._loss.loss.HalfMultinomialLoss",
        "sklearn._loss.link.MultinomialLogit",
        "sklearn._loss._loss.__pyx_unpickle_CyHalfMultinomialLoss",
        "sklearn._loss._loss.CyHalfMultinomialLoss",
    },
    "xgb_classifier.pkl": {"xgboost.sklearn.XGBClassifier", "xgboost.core.Booster"},
    "xgb_regressor.pkl": {"xgboost.sklearn.XGBRegressor", "xgboost.core.Booster"},
    "xgb_booster.pkl": {"xgboost.core.Booster", "builtins.bytearray"},
    "lgbm_classifier.pkl": {"lightgbm.sklearn.LGBMClassifier", "lightgbm.basic.Booster"},
    "lgbm_regressor.pkl": {"lightgbm.sklearn.LGBMRegressor", "lightgbm.basic.Booster"},
    "lgbm_booster.pkl": {"lightgbm.basic.Booster", "collections.defaultdict"},
    "catboost_classifier.pkl": {"catboost.core.CatBoostClassifier"},
    "catboost_regressor.pkl": {"catboost.core.CatBoostRegressor"},
}


def _scan(data: bytes) -> tuple[set[str], list[tuple[str, Severity, str]]]:
    result = scan_pickle(data, Location(PurePosixPath("t.pkl")), ScanContext(ScanOptions()))
    assert result.pickles >= 1
    seen = {f"{m}.{n}" for m, n in result.globals}
    return seen, [(f.rule_id, f.severity, f.message) for f in result.findings]


def test_the_fixtures_are_the_committed_set() -> None:
    assert len(FILES) == 23
    assert all(p.is_file() for p in FILES)
    assert MANIFEST["versions"]["scikit-learn"] == "1.9.1"
    assert MANIFEST["versions"]["xgboost"] == "3.2.0"
    total = sum(p.stat().st_size for p in REALWORLD.iterdir() if p.is_file())
    assert total < 2 * 1024 * 1024
    assert ALLOWLIST_VERSION >= "2026.12.3"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_realworld_sklearn_model_passes_the_default_gate(path: Path) -> None:
    report = scan_paths([path], ScanOptions(jobs=1))
    assert len(report.results) == 1
    assert report.results[0].skipped is None
    assert report.results[0].format.value in {"pickle", "joblib"}
    loud = [(f.rule_id, f.message) for f in report.findings if f.severity >= Severity.MEDIUM]
    assert loud == []


@pytest.mark.parametrize("name", sorted(EXPECTED_GLOBALS))
def test_realworld_pickle_carries_the_reviewed_classes(name: str) -> None:
    seen, findings = _scan((REALWORLD / name).read_bytes())
    assert EXPECTED_GLOBALS[name] <= seen, sorted(seen)
    assert findings == []


def _cpython_asked(data: bytes) -> set[str]:
    asked: set[str] = set()

    class Recorder(pickle.Unpickler):  # noqa: TID251 - stub-only recording loader
        def find_class(self, module: str, name: str) -> type:
            asked.add(f"{module}.{name}")
            return InertStub

    Recorder(io.BytesIO(data)).load()  # stubs only: find_class imports nothing
    return asked


@pytest.mark.parametrize("path", [p for p in FILES if p.suffix == ".pkl"], ids=lambda p: p.name)
def test_realworld_pickle_globals_match_cpython(path: Path) -> None:
    """Differential: the VM sees exactly the globals CPython's loader would resolve."""
    data = path.read_bytes()
    seen, _ = _scan(data)
    assert seen == _cpython_asked(data)


# ------------------------------------------------------------ shapes the entries do not admit --


def _g(qualified: str) -> bytes:
    module, _, name = qualified.rpartition(".")
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _call(func: str, args: bytes) -> bytes:
    """Protocol 2: GLOBAL func, the argument tuple, REDUCE, STOP."""
    return b"\x80\x02" + _g(func) + args + b"R."


def _loud(data: bytes) -> list[tuple[str, Severity, str]]:
    _, findings = _scan(data)
    return [f for f in findings if f[1] >= Severity.HIGH]


def test_newobj_with_a_reviewed_tree_class_is_quiet() -> None:
    data = _call(
        "sklearn.neighbors._kd_tree.newObj", b"(" + _g("sklearn.neighbors._kd_tree.KDTree") + b"t"
    )
    assert _loud(data) == []


@pytest.mark.parametrize(
    ("helper", "cls"),
    [
        # PyFuncDistance carries a Python callable in its state: never reviewed.
        ("sklearn.metrics._dist_metrics.newObj", "sklearn.metrics._dist_metrics.PyFuncDistance64"),
        # Each helper only admits its own family.
        ("sklearn.metrics._dist_metrics.newObj", "sklearn.neighbors._kd_tree.KDTree"),
        ("sklearn.neighbors._kd_tree.newObj", "sklearn.metrics._dist_metrics.EuclideanDistance64"),
        # newObj(cls) is cls.__new__(cls): any other class is an unreviewed construction.
        ("sklearn.neighbors._ball_tree.newObj", "builtins.object"),
        ("sklearn.neighbors._kd_tree.newObj", "collections.OrderedDict"),
    ],
)
def test_newobj_helper_with_an_unreviewed_class_is_high(helper: str, cls: str) -> None:
    """mlchain issue #14: newObj is allowlisted only with the reviewed classes as argument."""
    loud = _loud(_call(helper, b"(" + _g(cls) + b"t"))
    assert loud, "newObj with an unreviewed class must stay at least high"


def test_newobj_helper_without_a_class_is_high() -> None:
    assert _loud(_call("sklearn.neighbors._kd_tree.newObj", b")"))
    assert _loud(_call("sklearn.metrics._dist_metrics.newObj", b"(S'x'\nt"))


def test_cython_loss_with_a_plain_parameter_is_quiet() -> None:
    assert (
        _loud(_call("sklearn._loss._loss.CyPinballLoss", b"(G?\xe0\x00\x00\x00\x00\x00\x00t")) == []
    )
    assert _loud(_call("sklearn._loss._loss.CyHalfBinomialLoss", b")")) == []


def test_cython_loss_called_with_an_object_is_high() -> None:
    """The Cython loss entries admit plain values only, never an object built by the pickle."""
    inner = _g("collections.OrderedDict") + b")R"
    assert _loud(_call("sklearn._loss._loss.CyHuberLoss", b"(" + inner + b"t"))


@pytest.mark.parametrize(
    "cls",
    [
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn._loss.loss.HalfBinomialLoss",
        "sklearn._loss.link.Interval",
    ],
)
def test_rebuilt_only_classes_called_with_arguments_are_high(cls: str) -> None:
    """These entries review NEWOBJ + BUILD only; calling them runs __init__, which is not."""
    assert _loud(_call(cls, b"(I1\nI2\nt"))


def test_multinomial_unpickler_with_its_own_class_is_quiet() -> None:
    data = _call(
        "sklearn._loss._loss.__pyx_unpickle_CyHalfMultinomialLoss",
        b"(" + _g("sklearn._loss._loss.CyHalfMultinomialLoss") + b"J\x44\x04\x3b\x0e)t",
    )
    assert _loud(data) == []


@pytest.mark.parametrize(
    "cls",
    [
        # CyHalfMultinomialLoss.__new__(cls) takes that class only; anything else is unreviewed.
        "sklearn._loss._loss.CyHalfBinomialLoss",
        "builtins.object",
        "collections.OrderedDict",
    ],
)
def test_multinomial_unpickler_with_another_class_is_high(cls: str) -> None:
    """mlchain issue #14: the Cython unpickler is allowlisted with its own class only."""
    data = _call(
        "sklearn._loss._loss.__pyx_unpickle_CyHalfMultinomialLoss",
        b"(" + _g(cls) + b"J\x44\x04\x3b\x0e)t",
    )
    assert _loud(data)


def test_cython_multinomial_class_called_directly_is_high() -> None:
    """The class itself is reference-only: calling it was not reviewed."""
    assert _loud(_call("sklearn._loss._loss.CyHalfMultinomialLoss", b")"))


# ------------------------------------------------------ gradient-boosting libraries' shapes ----

_GBM_CLASSES = [
    "xgboost.core.Booster",
    "xgboost.sklearn.XGBClassifier",
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMRegressor",
    "catboost.core.CatBoostClassifier",
]


def _newobj_build(cls: str, state: bytes) -> bytes:
    """Protocol 2: cls.__new__(cls), then BUILD with ``state``, as the libraries' pickles do."""
    return b"\x80\x02" + _g(cls) + b")\x81" + state + b"b."


@pytest.mark.parametrize("cls", _GBM_CLASSES)
def test_gbm_class_rebuilt_with_plain_state_is_quiet(cls: str) -> None:
    assert _loud(_newobj_build(cls, b"}(S'best_iteration'\nI1\nu")) == []


@pytest.mark.parametrize("cls", _GBM_CLASSES)
def test_gbm_class_called_is_high(cls: str) -> None:
    """The entries review NEWOBJ + BUILD only; calling the class runs __init__ (not reviewed)."""
    assert _loud(_call(cls, b"(S'model.json'\nt"))


@pytest.mark.parametrize("cls", _GBM_CLASSES)
def test_payload_in_gbm_state_is_critical(cls: str) -> None:
    """An allowlisted booster does not launder what its state carries."""
    payload = _g("os.system") + b"(S'id'\ntR"
    findings = _loud(_newobj_build(cls, b"}(S'objective'\n" + payload + b"u"))
    assert any(sev is Severity.CRITICAL for _, sev, _ in findings), findings


def test_xgboost_handle_built_by_an_unreviewed_call_is_high() -> None:
    """The bytearray xgboost writes is allowlisted; a handle from anything else is not."""
    handle = _g("numpy.memmap") + b"(S'/tmp/x'\ntR"
    loud = _loud(_newobj_build("xgboost.core.Booster", b"}(S'handle'\n" + handle + b"u"))
    assert loud
