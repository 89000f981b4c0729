"""Model data with no code path is recognised, not "unrecognised" (mlchain issue #14, item 8).

Fixtures from ``fixtures/gen_mldata.py`` (sentencepiece, xgboost, lightgbm, catboost, msgpack).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlchain.models import ArtifactFormat
from mlchain.scan import scan_paths
from mlchain.scan.mldata import is_msgpack, is_sentencepiece

BENIGN = Path(__file__).resolve().parents[3] / "fixtures" / "mldata" / "benign"


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("flax_model.msgpack", ArtifactFormat.ML_DATA),
        ("spacy_pipeline/tok2vec/model", ArtifactFormat.ML_DATA),
        ("tokenizer.model", ArtifactFormat.ML_DATA),
        ("catboost_model.cbm", ArtifactFormat.ML_DATA),
        ("xgboost_model.ubj", ArtifactFormat.ML_DATA),
        ("xgboost_model.json", ArtifactFormat.DATA),
        ("lightgbm_model.txt", ArtifactFormat.DATA),
    ],
)
def test_real_files_are_recognised_and_clean(name: str, fmt: ArtifactFormat) -> None:
    result = scan_paths([BENIGN / name]).results[0]
    assert result.format is fmt
    assert result.findings == ()
    assert result.skipped is None


def test_truncated_msgpack_is_not_msgpack() -> None:
    data = (BENIGN / "flax_model.msgpack").read_bytes()
    assert is_msgpack(data)
    assert not is_msgpack(data[:-1])
    assert not is_msgpack(data + b"\x00")  # trailing bytes: not one object


def test_sentencepiece_needs_model_proto_fields() -> None:
    data = (BENIGN / "tokenizer.model").read_bytes()
    assert is_sentencepiece(data)
    assert not is_sentencepiece(b"\x0a\x02\x08\x01" + b"\x50\x01")  # field 10: not ModelProto


def test_msgpack_named_like_pickle_still_reports_the_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "weights.pkl"
    path.write_bytes((BENIGN / "flax_model.msgpack").read_bytes())
    assert "format-mismatch" in {f.rule_id for f in scan_paths([path]).findings}


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_raise(data: bytes) -> None:
    is_msgpack(b"\x82" + data)
    is_sentencepiece(b"\x0a" + data)
