"""Model facts from config.json, safetensors headers, GGUF metadata and the model card."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import pytest
from fixtures.canary import CANARY_PATH
from fixtures.gen_hfmodel import GGUF_PARAMETER_COUNT, PARAMETER_COUNT, gguf_bytes
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import FIXTURES
from mlchain.sbom import modelinfo as mi

BENIGN = FIXTURES / "hfmodel" / "benign"


def _files(path: Path) -> list[str]:
    if path.is_file():
        return [path.name]
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())


def test_hf_checkpoint_facts() -> None:
    model = BENIGN / "tiny-llama"
    info = mi.extract_model_info(model, _files(model))
    assert info.architecture == "LlamaForCausalLM"
    assert info.family == "llama"
    assert info.task == "text-generation"
    assert info.parameter_count == PARAMETER_COUNT == 920
    assert info.licenses == ("apache-2.0",)
    assert info.datasets == ("mlchain-fixtures/tiny-corpus", "mlchain-fixtures/tiny-instructions")
    assert info.base_models == ("mlchain-fixtures/tiny-base",)
    assert info.dtypes == ("F32",)
    assert info.name == "tiny-llama"
    assert [(m.type, m.value, m.dataset) for m in info.metrics] == [
        ("perplexity", "12.5", "Tiny Corpus (test)"),
        ("accuracy", "0.42", "Tiny Corpus (test)"),
    ]
    assert info.problems == ()


def test_gguf_facts_match_the_gguf_library() -> None:
    path = BENIGN / "tiny.gguf"
    info = mi.extract_model_info(path, [path.name])
    assert info.architecture == "llama"
    assert info.name == "tiny-gguf"
    assert info.licenses == ("mit",)
    assert info.quantization == "Q8_0"
    assert info.parameter_count == GGUF_PARAMETER_COUNT
    assert info.datasets == ("tiny-corpus",)
    assert info.base_models == ("https://huggingface.co/mlchain-fixtures/tiny-llama",)
    gguf = pytest.importorskip("gguf")
    reader = gguf.GGUFReader(str(path))
    assert sum(int(t.n_elements) for t in reader.tensors) == info.parameter_count


def test_only_listed_files_are_read(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["BertForMaskedLM"]}))
    info = mi.extract_model_info(tmp_path, [])
    assert info.architecture is None


def test_hf_cache_path_gives_repo_and_revision(tmp_path: Path) -> None:
    rev = "c" * 40
    snapshot = tmp_path / "models--acme--tiny" / "snapshots" / rev
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    info = mi.extract_model_info(snapshot, ["config.json"])
    assert (info.hf_repo, info.hf_revision) == ("acme/tiny", rev)


def test_quantization_config(tmp_path: Path) -> None:
    config = {"architectures": ["X"], "quantization_config": {"quant_method": "gptq", "bits": 4}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert mi.extract_model_info(tmp_path, ["config.json"]).quantization == "gptq 4-bit"


def test_yaml_tag_in_card_is_refused_and_never_runs() -> None:
    model = FIXTURES / "hfmodel" / "malicious" / "yaml-tag-card"
    info = mi.extract_model_info(model, _files(model))
    assert info.licenses == ()
    assert any("README.md" in p and "YAML" in p for p in info.problems)
    assert info.architecture == "GPT2LMHeadModel"  # the rest is still read
    assert not Path(CANARY_PATH).exists()


@pytest.mark.parametrize(
    ("card", "problem"),
    [
        ("---\nlicense: mit\n", "not closed"),
        ("---\n- a\n- b\n---\n", "not a YAML mapping"),
        ("---\nlicense: [unclosed\n---\n", "not valid YAML"),
    ],
)
def test_broken_front_matter_is_a_problem_not_a_crash(
    tmp_path: Path, card: str, problem: str
) -> None:
    (tmp_path / "README.md").write_text(card)
    info = mi.extract_model_info(tmp_path, ["README.md"])
    assert any(problem in p for p in info.problems), info.problems


def test_card_without_front_matter(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# just a title\n")
    info = mi.extract_model_info(tmp_path, ["README.md"])
    assert info.problems == () and info.licenses == ()


def test_alias_heavy_card_stays_bounded(tmp_path: Path) -> None:
    """Shared YAML aliases must not make metric extraction explode."""
    lines = ["---", "m: &m [{type: acc, value: 1}" + ", {type: acc, value: 1}" * 50 + "]"]
    lines.append("r: &r [" + ", ".join(["{metrics: *m}"] * 50) + "]")
    lines.append("model-index: [" + ", ".join(["{results: *r}"] * 50) + "]")
    lines.append("---")
    (tmp_path / "README.md").write_text("\n".join(lines))
    info = mi.extract_model_info(tmp_path, ["README.md"])
    assert len(info.metrics) == mi.MAX_ITEMS


def test_one_bad_shard_means_no_parameter_count(tmp_path: Path) -> None:
    good = BENIGN / "tiny-llama" / "model-00001-of-00002.safetensors"
    (tmp_path / "a.safetensors").write_bytes(good.read_bytes())
    (tmp_path / "b.safetensors").write_bytes(struct.pack("<Q", 1 << 40) + b"{}")
    info = mi.extract_model_info(tmp_path, ["a.safetensors", "b.safetensors"])
    assert info.parameter_count is None
    assert any("b.safetensors" in p for p in info.problems)


@pytest.mark.parametrize(
    "header",
    [
        b'{"t": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 0]}}',
        b'{"t": {"dtype": "F32", "shape": "2x2"}}',
        b'{"t": [1, 2]}',
        b"[1]",
        b"{not json",
    ],
)
def test_malformed_safetensors_headers(header: bytes) -> None:
    blob = struct.pack("<Q", len(header)) + header
    with pytest.raises(ValueError):  # noqa: PT011 - any ValueError is the contract
        mi.safetensors_parameters(mi.read_safetensors_header(io.BytesIO(blob), len(blob)))


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200))
def test_safetensors_reader_random_bytes(blob: bytes) -> None:
    try:
        mi.safetensors_parameters(mi.read_safetensors_header(io.BytesIO(blob), len(blob)))
    except ValueError:
        pass


def test_truncated_gguf_gives_no_parameter_count(tmp_path: Path) -> None:
    data = gguf_bytes()
    for cut in (8, 40, 200, 1100):
        path = tmp_path / "cut.gguf"
        path.write_bytes(data[:cut])
        info = mi.extract_model_info(path, [path.name])
        assert info.parameter_count is None, cut
        assert any(p.startswith("cut.gguf: ") for p in info.problems), cut
