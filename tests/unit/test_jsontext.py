"""mlchain.jsontext writes exactly what json.dumps(indent=2, ensure_ascii=False) writes."""

from __future__ import annotations

import enum
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlchain.jsontext import dumps

_CHARS = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, blacklist_categories=())
_TEXT = st.text(_CHARS, max_size=12)
_KEYS = st.one_of(_TEXT, st.integers(), st.floats(), st.booleans(), st.none())
_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    _TEXT,
)
_DOCUMENTS = st.recursive(
    _LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(_KEYS, inner, max_size=4),
    ),
    max_leaves=30,
)


@settings(max_examples=800)
@given(_DOCUMENTS)
def test_same_text_as_json_dumps(document: Any) -> None:
    assert dumps(document) == json.dumps(document, indent=2, ensure_ascii=False)


class _Level(enum.IntEnum):
    HIGH = 3


class _Name(str, enum.Enum):
    PICKLE = "pickle"


def test_enums_floats_and_empties_as_json_writes_them() -> None:
    document = {
        "level": _Level.HIGH,
        "name": _Name.PICKLE,
        "nan": math.nan,
        "inf": [math.inf, -math.inf],
        "empty": [{}, [], ()],
        1.5: "float key",
        None: "none key",
        "\ud800": "lone surrogate",
    }
    assert dumps(document) == json.dumps(document, indent=2, ensure_ascii=False)


@pytest.mark.parametrize("bad", [{"x": {1, 2}}, [object()], {(1, 2): "tuple key"}])
def test_what_json_refuses_is_refused(bad: Any) -> None:
    with pytest.raises(TypeError):
        json.dumps(bad, indent=2)
    with pytest.raises(TypeError):
        dumps(bad)


def test_a_container_inside_itself_is_refused() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular"):
        dumps(loop)
    shared = [1]
    assert dumps([shared, shared]) == json.dumps([shared, shared], indent=2)
