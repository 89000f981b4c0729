"""Facts about a model read from its files without loading it: the data behind the ML-BOM.

Sources, all parsed as bytes and bounded:

- ``config.json`` (Hugging Face): architecture, model family, dtype, quantisation.
- safetensors headers (8-byte little-endian length + JSON; never the tensors): parameter count is
  the sum of the shape products over every shard.
- GGUF metadata and tensor infos, through the GGUF scanner's bounded reader
  (:func:`mlchain.scan.gguf.read_gguf_metadata`; tensor data is never read).
- ``README.md`` YAML front matter (model card): licence, datasets, base models, task, languages and
  ``model-index`` metrics, parsed with ``yaml.safe_load`` only.

Anything that cannot be parsed is recorded in :attr:`ModelInfo.problems` and the fact is left
unknown; a partial parameter count is never reported.
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from mlchain.sanitize import clean

MAX_SAFETENSORS_HEADER = 100 << 20
"""Same bound as the safetensors library."""
MAX_CONFIG_BYTES = 4 << 20
MAX_README_BYTES = 1 << 20
MAX_ITEMS = 256
"""Cap on metrics, datasets, base models, tags... taken from a model card."""
MAX_TEXT = 512
"""Facts are hostile strings: control characters are escaped (``mlchain.sanitize.clean``) and
the text truncated to this many characters."""

_HF_CACHE = re.compile(
    r"(?:^|/)models--(?P<org>[^/]+?)--(?P<name>[^/]+)/snapshots/(?P<rev>[0-9a-f]{40})(?:/|$)"
)

_TASKS = (
    ("ForCausalLM", "text-generation"),
    ("LMHeadModel", "text-generation"),
    ("ForMaskedLM", "fill-mask"),
    ("ForSequenceClassification", "text-classification"),
    ("ForTokenClassification", "token-classification"),
    ("ForQuestionAnswering", "question-answering"),
    ("ForImageClassification", "image-classification"),
    ("ForObjectDetection", "object-detection"),
    ("ForSpeechSeq2Seq", "automatic-speech-recognition"),
    ("ForCTC", "automatic-speech-recognition"),
)


@dataclass(frozen=True, slots=True)
class Metric:
    """One ``model-index`` result."""

    type: str
    value: str
    name: str | None = None
    task: str | None = None
    dataset: str | None = None


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What the model's own files say about it. Every field may be unknown."""

    name: str | None = None
    architecture: str | None = None
    family: str | None = None
    task: str | None = None
    parameter_count: int | None = None
    quantization: str | None = None
    dtypes: tuple[str, ...] = ()
    formats: tuple[str, ...] = ()
    licenses: tuple[str, ...] = ()
    license_name: str | None = None
    license_link: str | None = None
    datasets: tuple[str, ...] = ()
    base_models: tuple[str, ...] = ()
    metrics: tuple[Metric, ...] = ()
    languages: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    library: str | None = None
    hf_repo: str | None = None
    """``org/name`` from a Hugging Face cache path."""
    hf_revision: str | None = None
    problems: tuple[str, ...] = ()


@dataclass(slots=True)
class _Builder:
    values: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    config_dtype: str | None = None

    def set(self, key: str, value: Any) -> None:
        if value not in (None, "", ()) and key not in self.values:
            self.values[key] = value


def extract_model_info(model_path: Path, files: Sequence[str]) -> ModelInfo:
    """Read model facts from ``model_path`` (a folder, or a single file).

    ``files`` are the relative names of the model's files (the OMS digests' keys); only those are
    opened, so ignored files never contribute.
    """
    base = model_path if model_path.is_dir() else model_path.parent
    b = _Builder()
    hf = _HF_CACHE.search(model_path.resolve().as_posix() + "/")
    if hf:
        b.set("hf_repo", f"{hf.group('org')}/{hf.group('name')}")
        b.set("hf_revision", hf.group("rev"))
    names = sorted(files)
    if "README.md" in names:
        _read_card(base / "README.md", b)
    if "config.json" in names:
        _read_config(base / "config.json", b)
    shards = [n for n in names if n.endswith(".safetensors")]
    if shards:
        _read_safetensors(base, shards, b)
    for name in (n for n in names if n.endswith(".gguf")):
        _read_gguf(base / name, name, b)
    if b.config_dtype:
        b.set("dtypes", (b.config_dtype,))
    if "task" not in b.values and "architecture" in b.values:
        b.set("task", infer_task(b.values["architecture"]))
    if "name" not in b.values:
        b.set("name", PurePosixPath(model_path.resolve().as_posix()).name)
    return ModelInfo(**b.values, problems=tuple(b.problems))


def infer_task(architecture: str) -> str | None:
    """Guess the task from a transformers class name (``LlamaForCausalLM`` -> text-generation)."""
    for suffix, task in _TASKS:
        if architecture.endswith(suffix):
            return task
    return None


def _strings(value: Any) -> tuple[str, ...]:
    """A string or a list of strings from a model card, capped and deduplicated in order."""
    items = [value] if isinstance(value, (str, int, float)) else value
    if not isinstance(items, list):
        return ()
    out: list[str] = []
    for item in items[:MAX_ITEMS]:
        if isinstance(item, (str, int, float)) and not isinstance(item, bool):
            text = clean(str(item).strip(), MAX_TEXT)
            if text and text not in out:
                out.append(text)
    return tuple(out)


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    return clean(str(value).strip(), MAX_TEXT) or None


def _read_bounded(path: Path, limit: int, b: _Builder, label: str) -> bytes | None:
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        b.problems.append(f"{label}: cannot be read ({exc.strerror or exc})")
        return None
    if len(data) > limit:
        b.problems.append(f"{label}: larger than {limit} bytes, not read")
        return None
    return data


# --- model card ---------------------------------------------------------------------------------


def read_front_matter(text: str) -> dict[str, Any] | None:
    """Return the YAML front matter of a model card, or ``None`` when there is none.

    Raises:
        ValueError: when the front matter exists but is not a YAML mapping.
    """
    import yaml

    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        return None
    for end in range(1, len(lines)):
        if lines[end].strip() == "---":
            break
    else:
        raise ValueError("front matter is not closed by a '---' line")
    try:
        data = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError as exc:
        raise ValueError(f"front matter is not valid YAML ({type(exc).__name__})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError("front matter is not a YAML mapping")
    return data


def _read_card(path: Path, b: _Builder) -> None:
    data = _read_bounded(path, MAX_README_BYTES, b, "README.md")
    if data is None:
        return
    try:
        meta = read_front_matter(data.decode("utf-8", errors="replace"))
    except (ValueError, RecursionError) as exc:
        b.problems.append(f"README.md: {exc}")
        return
    if not meta:
        return
    b.set("licenses", _strings(meta.get("license")))
    b.set("license_name", _scalar(meta.get("license_name")))
    b.set("license_link", _scalar(meta.get("license_link")))
    b.set("datasets", _strings(meta.get("datasets")))
    b.set("base_models", _strings(meta.get("base_model")))
    b.set("task", _scalar(meta.get("pipeline_tag")))
    b.set("languages", _strings(meta.get("language")))
    b.set("tags", _strings(meta.get("tags")))
    b.set("library", _scalar(meta.get("library_name")))
    index = meta.get("model-index")
    if isinstance(index, list):
        metrics = tuple(_metrics(index))
        b.set("metrics", metrics)
        for entry in index[:1]:
            if isinstance(entry, dict):
                b.set("name", _scalar(entry.get("name")))


def _metrics(index: list[Any]) -> Iterable[Metric]:
    count = 0
    for entry in index[:MAX_ITEMS]:
        results = entry.get("results") if isinstance(entry, dict) else None
        for result in results[:MAX_ITEMS] if isinstance(results, list) else ():
            if not isinstance(result, dict):
                continue
            task = result.get("task")
            dataset = result.get("dataset")
            task_name = _scalar(task.get("type")) if isinstance(task, dict) else None
            dataset_name = None
            if isinstance(dataset, dict):
                dataset_name = _scalar(dataset.get("name")) or _scalar(dataset.get("type"))
                split = _scalar(dataset.get("split"))
                if dataset_name and split:
                    dataset_name = f"{dataset_name} ({split})"
            metrics = result.get("metrics")
            for metric in metrics[:MAX_ITEMS] if isinstance(metrics, list) else ():
                if not isinstance(metric, dict):
                    continue
                kind, value = _scalar(metric.get("type")), _scalar(metric.get("value"))
                if kind is None or value is None:
                    continue
                yield Metric(kind, value, _scalar(metric.get("name")), task_name, dataset_name)
                count += 1
                if count >= MAX_ITEMS:
                    return


# --- config.json --------------------------------------------------------------------------------


def _read_config(path: Path, b: _Builder) -> None:
    data = _read_bounded(path, MAX_CONFIG_BYTES, b, "config.json")
    if data is None:
        return
    try:
        config = json.loads(data)
    except (ValueError, RecursionError):
        b.problems.append("config.json: not valid JSON")
        return
    if not isinstance(config, dict):
        b.problems.append("config.json: not a JSON object")
        return
    architectures = _strings(config.get("architectures"))
    if architectures:
        b.set("architecture", architectures[0])
    b.set("family", _scalar(config.get("model_type")))
    dtype = _scalar(config.get("torch_dtype")) or _scalar(config.get("dtype"))
    b.config_dtype = dtype
    quant = config.get("quantization_config")
    if isinstance(quant, dict):
        method = _scalar(quant.get("quant_method")) or "quantized"
        bits = quant.get("bits")
        if quant.get("load_in_4bit") is True:
            bits = 4
        elif quant.get("load_in_8bit") is True:
            bits = 8
        suffix = f" {bits}-bit" if isinstance(bits, int) and not isinstance(bits, bool) else ""
        b.set("quantization", f"{method}{suffix}")


# --- safetensors --------------------------------------------------------------------------------


def read_safetensors_header(handle: BinaryIO, size: int) -> dict[str, Any]:
    """Read and check a safetensors header (never the tensor data).

    Raises:
        ValueError: on a truncated, oversized or malformed header.
    """
    head = handle.read(8)
    if len(head) != 8:
        raise ValueError("truncated header length")
    (length,) = struct.unpack("<Q", head)
    if length > MAX_SAFETENSORS_HEADER or length > size - 8:
        raise ValueError(f"header length {length} is out of bounds")
    raw = handle.read(length)
    if len(raw) != length:
        raise ValueError("truncated header")
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError):
        raise ValueError("header is not valid JSON") from None
    if not isinstance(header, dict):
        raise ValueError("header is not a JSON object")
    return header


def safetensors_parameters(header: dict[str, Any]) -> tuple[int, set[str]]:
    """Return (parameter count, dtypes) of one header.

    Raises:
        ValueError: when a tensor entry has no valid shape or dtype.
    """
    total = 0
    dtypes: set[str] = set()
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        if not isinstance(entry, dict):
            raise ValueError(f"tensor {key[:64]!r} is not an object")
        shape, dtype = entry.get("shape"), entry.get("dtype")
        if (
            not isinstance(shape, list)
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
            or not isinstance(dtype, str)
        ):
            raise ValueError(f"tensor {key[:64]!r} has no valid shape and dtype")
        total += math.prod(shape)
        dtypes.add(dtype[:16])
    return total, dtypes


def _read_safetensors(base: Path, shards: list[str], b: _Builder) -> None:
    total = 0
    dtypes: set[str] = set()
    for name in shards:
        path = base / name
        try:
            with path.open("rb") as handle:
                header = read_safetensors_header(handle, path.stat().st_size)
            count, kinds = safetensors_parameters(header)
        except (OSError, ValueError) as exc:
            b.problems.append(f"{name}: safetensors header unreadable ({exc}); no parameter count")
            return
        total += count
        dtypes |= kinds
    b.set("parameter_count", total)
    b.set("dtypes", tuple(sorted(dtypes)))
    b.set("formats", ("safetensors",))


# --- GGUF ---------------------------------------------------------------------------------------


def _read_gguf(path: Path, name: str, b: _Builder) -> None:
    from mlchain.scan.gguf import read_gguf_metadata

    try:
        summary = read_gguf_metadata(path)
    except OSError as exc:
        b.problems.append(f"{name}: cannot be read ({exc.strerror or exc})")
        return
    meta = summary.get("metadata") or {}
    problems = [clean(str(p), MAX_TEXT) for p in summary.get("problems") or ()]
    b.problems.extend(f"{name}: {p}" for p in problems)
    count = summary.get("parameter_count")
    if not problems and isinstance(count, int):  # never a count from a partly read file
        b.set("parameter_count", count)
    types = summary.get("tensor_types") or {}
    arch = _scalar(meta.get("general.architecture"))
    b.set("architecture", arch)
    b.set("family", arch)
    b.set("name", _scalar(meta.get("general.name")))
    b.set("licenses", _strings(meta.get("general.license")))
    b.set("dtypes", tuple(sorted(clean(str(t), 32) for t in types)))
    b.set("formats", ("gguf",))
    b.set("languages", _strings(meta.get("general.languages")))
    b.set("tags", _strings(meta.get("general.tags")))
    b.set("quantization", _scalar(summary.get("quantization")))
    b.set("base_models", _indexed(meta, "general.base_model", ("repo_url", "name")))
    b.set("datasets", _indexed(meta, "general.dataset", ("repo_url", "name")))


def _indexed(meta: dict[str, Any], prefix: str, keys: tuple[str, ...]) -> tuple[str, ...]:
    count = meta.get(f"{prefix}.count")
    if not isinstance(count, int) or isinstance(count, bool):
        return ()
    out: list[str] = []
    for i in range(min(count, MAX_ITEMS)):
        for key in keys:
            value = _scalar(meta.get(f"{prefix}.{i}.{key}"))
            if value:
                out.append(value)
                break
    return tuple(out)
