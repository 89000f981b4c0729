"""Generate the benchmark artifacts in a work folder (nothing large is ever committed).

Every generator is deterministic and skips work when its output already exists, so repeated bench
runs reuse the files. torch is needed only for the PyTorch artifacts (the bench session installs it).
"""

from __future__ import annotations

import json
import os
import pickle
import struct
from collections.abc import Callable
from pathlib import Path

MiB = 1024 * 1024
GiB = 1024 * MiB
CHUNK = bytes(range(256)) * (4 * 4096)  # 4 MiB of non-zero, non-sparse filler


def _fill(handle: object, size: int) -> None:
    write = handle.write  # type: ignore[attr-defined]
    while size > 0:
        piece = CHUNK[: min(size, len(CHUNK))]
        write(piece)
        size -= len(piece)


def safetensors_file(path: Path, total: int, tensors: int) -> Path:
    """A safetensors file of ``tensors`` F32 tensors adding up to about ``total`` bytes."""
    if path.exists():
        return path
    per = (total // tensors) // 4 * 4
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for i in range(tensors):
        header[f"model.layers.{i}.weight"] = {
            "dtype": "F32",
            "shape": [per // 4],
            "data_offsets": [offset, offset + per],
        }
        offset += per
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with path.open("wb") as handle:
        handle.write(struct.pack("<Q", len(raw)))
        handle.write(raw)
        _fill(handle, offset)
    return path


def hf_folder(path: Path, total: int) -> Path:
    """A Hugging Face-like checkpoint: config, tokenizer files, 4 safetensors shards and an index."""
    if (path / "config.json").exists():
        return path
    path.mkdir(parents=True, exist_ok=True)
    weight_map = {}
    for shard in range(4):
        name = f"model-{shard + 1:05}-of-00004.safetensors"
        safetensors_file(path / name, total // 4, 128)
        for i in range(128):
            weight_map[f"model.layers.{i}.weight.{shard}"] = name
    (path / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map})
    )
    (path / "config.json").write_text(
        json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama"})
    )
    template = (
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
        "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
    )
    (path / "tokenizer_config.json").write_text(json.dumps({"chat_template": template}))
    (path / "tokenizer.json").write_text(json.dumps({"version": "1.0", "model": {"vocab": {}}}))
    (path / "README.md").write_text("---\nlicense: apache-2.0\n---\n# bench model\n")
    return path


def gguf_file(path: Path, total: int, tensors: int = 256) -> Path:
    """A GGUF v3 file with F32 tensors adding up to about ``total`` bytes (own writer)."""
    if path.exists():
        return path

    def string(text: str) -> bytes:
        data = text.encode()
        return struct.pack("<Q", len(data)) + data

    per_elems = (total // tensors) // 4
    alignment = 32
    kv = [
        (b"general.architecture", 8, string("llama")),
        (b"general.alignment", 4, struct.pack("<I", alignment)),
        (b"tokenizer.chat_template", 8, string("{{ messages[0]['content'] }}")),
    ]
    out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, tensors, len(kv)))
    for key, vtype, value in kv:
        out += struct.pack("<Q", len(key)) + key + struct.pack("<I", vtype) + value
    offset = 0
    for i in range(tensors):
        out += string(f"blk.{i}.weight") + struct.pack("<I", 1) + struct.pack("<Q", per_elems)
        out += struct.pack("<IQ", 0, offset)
        offset += per_elems * 4
        offset += -offset % alignment
    out += b"\0" * (-len(out) % alignment)
    with path.open("wb") as handle:
        handle.write(out)
        _fill(handle, offset)
    return path


def onnx_external(path: Path, total: int) -> Path:
    """An ONNX model whose weights (about ``total`` bytes) live in an external data file."""
    model_path = path / "model.onnx"
    if model_path.exists():
        return model_path
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    path.mkdir(parents=True, exist_ok=True)
    count = 16
    per = total // count // 4
    inits, nodes = [], []
    previous = "x"
    for i in range(count):
        weight = numpy_helper.from_array(np.full(per, i, dtype=np.float32), f"w{i}")
        inits.append(weight)
        nodes.append(helper.make_node("Add", [previous, f"w{i}"], [f"y{i}"]))
        previous = f"y{i}"
    graph = helper.make_graph(
        nodes,
        "bench",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [per])],
        [helper.make_tensor_value_info(previous, TensorProto.FLOAT, [per])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save_model(
        model,
        str(model_path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="weights.bin",
        size_threshold=0,
    )
    return model_path


def torch_zip(path: Path, total: int, tensors: int = 1000) -> Path:
    """A ``torch.save`` state_dict (zip format) of about ``total`` bytes."""
    if path.exists():
        return path
    import torch

    per = total // tensors // 4
    state = {f"layer.{i}.weight": torch.full((per,), float(i)) for i in range(tensors)}
    torch.save(state, path)
    return path


def torch_legacy(path: Path, total: int, tensors: int = 200) -> Path:
    """A legacy-format ``torch.save`` file."""
    if path.exists():
        return path
    import torch

    per = total // tensors // 4
    state = {f"layer.{i}.weight": torch.full((per,), float(i)) for i in range(tensors)}
    torch.save(state, path, _use_new_zipfile_serialization=False)
    return path


def small_pickles(path: Path, count: int = 5000) -> Path:
    """``count`` small benign pickles in nested folders."""
    marker = path / ".complete"
    if marker.exists():
        return path
    for i in range(count):
        folder = path / f"d{i % 50:02}" / f"e{i % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        data = {"id": i, "values": list(range(i % 40)), "name": f"item-{i}"}
        (folder / f"obj{i:05}.pkl").write_bytes(pickle.dumps(data, protocol=4))
    marker.write_text("")
    return path


GENERATORS: dict[str, Callable[[Path], Path]] = {
    "safetensors-2GiB": lambda w: safetensors_file(w / "big.safetensors", 2 * GiB, 600),
    "gguf-1GiB": lambda w: gguf_file(w / "big.gguf", GiB),
    "onnx-200MiB-external": lambda w: onnx_external(w / "onnx", 200 * MiB),
    "hf-folder-2GB": lambda w: hf_folder(w / "hf", 2_000_000_000),
    "torch-zip-1GiB": lambda w: torch_zip(w / "state_dict.pt", GiB),
    "torch-legacy-256MiB": lambda w: torch_legacy(w / "legacy.pt", 256 * MiB),
    "pickles-5000": lambda w: small_pickles(w / "pickles"),
}


def generate(work: Path, names: list[str]) -> dict[str, Path]:
    """Create the named artifacts under ``work``; returns name -> path."""
    work.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in names:
        try:
            out[name] = GENERATORS[name](work)
        except ImportError as exc:  # torch/onnx missing outside the bench session
            print(f"skipping {name}: {exc}")
    os.sync()
    return out
