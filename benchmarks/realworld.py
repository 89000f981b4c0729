"""Real-world corpus: artifacts written by the real ML libraries, each scanned by mlchain.

Issue 14's acceptance: on what the libraries themselves write (``save_pretrained``, Trainer
checkpoints, ``torch.save``, TorchScript, ``torch.export``, ONNX, Keras, SavedModel, TFLite,
GGUF, the scikit-learn family, pandas, numpy, optuna, spaCy...), the default gate
(``--fail-on medium``) must pass. Not part of the tests and never run in CI: the libraries are
heavy and live in optional environments. Normally run through ``nox -s realworld``.

Every model is tiny, built from a config with random weights: nothing is downloaded (the only
network use is pip installing the libraries). A library that does not install or import is
skipped and the reason is recorded in the results.

Three library groups, one environment each (they do not coexist in one environment):

* ``torch``: torch 2.13.0 (CPU), transformers 5, accelerate, peft, timm, lightning, diffusers,
  sentence-transformers, optuna, pandas, scikit-learn, skops, xgboost, lightgbm, catboost,
  spaCy, onnx, onnxruntime, gguf, sentencepiece;
* ``t4``: torch 2.13.0 with transformers 4;
* ``tf``: TensorFlow (CPU), Keras 3, tf_keras.

Usage::

    # create the environments under .nox/realworld-envs, build, scan, write docs/realworld.md
    python benchmarks/realworld.py --envs .nox/realworld-envs --results docs/realworld.md
    # or reuse existing environments, one per group
    python benchmarks/realworld.py --python torch=/path/to/python --python t4=... --python tf=...

The scanning side runs ``python -m mlchain scan --format json --fail-on medium`` with the
interpreter running this script, once per artifact; the time recorded is that whole process
(its start-up included). Internally ``build --group G --out DIR`` is what runs inside a group's
environment.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import io
import json
import os
import pickle
import platform
import random
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"

# ------------------------------------------------------------------------------ environments ----

TORCH = "torch==2.13.0"
# Per group: packages installed together first (the group is skipped when they fail), then
# each optional one on its own (a failure only skips the builders that need it).
GROUPS: dict[str, dict[str, list[str]]] = {
    "torch": {
        "core": [TORCH, "numpy", "transformers>=5", "accelerate", "safetensors"],
        "optional": [
            "peft",
            "timm",
            "lightning",
            "diffusers",
            "sentence-transformers",
            "optuna",
            "cmaes",
            "pandas",
            "scikit-learn",
            "skops",
            "xgboost",
            "lightgbm",
            "catboost",
            "spacy",
            "onnx",
            "onnxscript",
            "onnxruntime",
            "gguf",
            "sentencepiece",
        ],
    },
    "t4": {"core": [TORCH, "numpy", "transformers<5", "accelerate", "safetensors"], "optional": []},
    "tf": {"core": ["tensorflow-cpu", "h5py"], "optional": ["tf_keras"]},
}


def _pip(python: str, packages: list[str]) -> tuple[bool, str]:
    done = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", *packages],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [ln for ln in done.stderr.splitlines() if ln.strip() and "is ignored" not in ln]
    return done.returncode == 0, (lines[-1] if lines else "")


def setup_env(group: str, envs: Path) -> tuple[str | None, dict[str, str]]:
    """Create (or reuse) the group's venv; return its python and the packages that failed."""
    venv = envs / group
    python = venv / "bin" / "python"
    failed: dict[str, str] = {}
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    ok, why = _pip(str(python), GROUPS[group]["core"])
    if not ok:
        return None, {"+".join(GROUPS[group]["core"]): why}
    for package in GROUPS[group]["optional"]:
        ok, why = _pip(str(python), [package])
        if not ok:
            failed[package] = why or "pip install failed"
    return str(python), failed


# ------------------------------------------------------------------------------ builders --------
# Each builder writes under ``out`` and returns the artifacts (files or folders, relative to
# ``out``) it made. A builder runs in the group's environment; an ImportError skips it.

Builder = Callable[[Path], list[str]]
BUILDERS: dict[str, dict[str, tuple[Builder, list[str]]]] = {"torch": {}, "t4": {}, "tf": {}}


def builder(groups: list[str], libs: list[str]) -> Callable[[Builder], Builder]:
    def register(fn: Builder) -> Builder:
        for group in groups:
            BUILDERS[group][fn.__name__.removeprefix("build_")] = (fn, libs)
        return fn

    return register


def _quiet() -> None:
    warnings.filterwarnings("ignore")
    for key, value in {
        "TOKENIZERS_PARALLELISM": "false",
        "WANDB_DISABLED": "true",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "DO_NOT_TRACK": "1",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "CUDA_VISIBLE_DEVICES": "",
    }.items():
        os.environ.setdefault(key, value)


def _seed() -> None:
    random.seed(0)
    with contextlib.suppress(ImportError):
        import numpy as np

        np.random.seed(0)
    with contextlib.suppress(ImportError):
        import torch

        torch.manual_seed(0)


def _training() -> object:
    """fixtures/gen_training.py: its generators and its torchvision shim are reused here."""
    sys.path.insert(0, str(FIXTURES))
    import gen_training

    return gen_training


# ---- transformers --------------------------------------------------------------------------


def _tokenizer(chat_template: str | None) -> object:
    """A word-level fast tokenizer built in memory (no vocabulary download)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "<s>", "</s>"])}
    for word in ["the", "a", "model", "safe", "scan", "weights", "hello", "world"]:
        vocab[word] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        bos_token="<s>",
        eos_token="</s>",
    )
    if chat_template is not None:
        fast.chat_template = chat_template
    return fast


def _tiny_models() -> dict[str, object]:
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        GPT2Config,
        GPT2LMHeadModel,
        LlamaConfig,
        LlamaForCausalLM,
    )

    small = {"vocab_size": 32}
    return {
        "bert": BertForSequenceClassification(
            BertConfig(
                **small,
                hidden_size=8,
                num_hidden_layers=1,
                num_attention_heads=1,
                intermediate_size=8,
                max_position_embeddings=16,
            )
        ),
        "gpt2": GPT2LMHeadModel(GPT2Config(**small, n_embd=8, n_layer=1, n_head=1, n_positions=16)),
        "llama": LlamaForCausalLM(
            LlamaConfig(
                **small,
                hidden_size=8,
                intermediate_size=16,
                num_hidden_layers=1,
                num_attention_heads=1,
                num_key_value_heads=1,
                max_position_embeddings=16,
            )
        ),
    }


def _major(dist: str) -> str:
    return importlib.metadata.version(dist).split(".")[0]


@builder(["torch", "t4"], ["transformers", "torch", "tokenizers"])
def build_transformers_save_pretrained(out: Path) -> list[str]:
    """``save_pretrained`` (safetensors and ``.bin``) of three architectures, with tokenizer."""
    import torch

    sys.path.insert(0, str(FIXTURES))
    from chat_templates import BENIGN

    major = _major("transformers")
    written = []
    templates = list(BENIGN.values())
    for i, (name, model) in enumerate(_tiny_models().items()):
        if getattr(model, "generation_config", None) is not None:
            model.generation_config.max_new_tokens = 4  # type: ignore[attr-defined]
        for safe in (True, False):
            dest = out / f"transformers{major}" / f"{name}-{'safetensors' if safe else 'bin'}"
            try:
                model.save_pretrained(dest, safe_serialization=safe)  # type: ignore[attr-defined]
            except TypeError:  # transformers 5 dropped the flag: write the .bin as v4 did
                if safe:
                    raise
                dest.mkdir(parents=True, exist_ok=True)
                model.config.save_pretrained(dest)  # type: ignore[attr-defined]
                torch.save(model.state_dict(), dest / "pytorch_model.bin")  # type: ignore[attr-defined]
            _tokenizer(templates[i % len(templates)]).save_pretrained(dest)  # type: ignore[attr-defined]
            written.append(str(dest.relative_to(out)))
    return written


class _Rows:
    def __init__(self, n: int) -> None:
        import torch

        g = torch.Generator().manual_seed(0)
        self.ids = torch.randint(0, 32, (n, 8), generator=g)
        self.labels = torch.randint(0, 2, (n,), generator=g)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, object]:
        return {"input_ids": self.ids[i], "labels": self.labels[i]}


@builder(["torch", "t4"], ["transformers", "accelerate", "torch"])
def build_transformers_trainer(out: Path) -> list[str]:
    """Two Trainer checkpoints, complete (weights, optimizer, scheduler, rng, training_args)."""
    from transformers import Trainer, TrainingArguments

    _seed()
    major = _major("transformers")
    written = []
    for optim in ("adamw_torch", "sgd"):
        dest = out / f"transformers{major}" / f"trainer-{optim}"
        args = TrainingArguments(
            output_dir=str(dest),
            max_steps=2,
            save_steps=1,
            save_strategy="steps",
            eval_strategy="no",
            lr_scheduler_type="cosine" if optim == "sgd" else "linear",
            optim=optim,
            per_device_train_batch_size=4,
            report_to=[],
            use_cpu=True,
            seed=0,
            save_total_limit=1,
            disable_tqdm=True,
        )
        trainer = Trainer(model=_tiny_models()["bert"], args=args, train_dataset=_Rows(8))
        with contextlib.redirect_stdout(io.StringIO()):
            trainer.train()
            trainer.save_model(str(dest / "final"))
        written.append(str(dest.relative_to(out)))
    return written


# ---- the training-artifact generators of fixtures/gen_training.py -------------------------


def _reuse(name: str) -> Builder:
    def build(out: Path) -> list[str]:
        gen = _training()
        # gen_training's paths are relative to the folder it is given
        return list(gen.GENERATORS[name](out / "training"))  # type: ignore[attr-defined]

    build.__name__ = f"build_training_{name}"
    return build


for _name, _libs in {
    "torch": ["torch", "numpy"],
    "accelerate": ["accelerate", "torch"],
    "lightning": ["lightning", "torch"],
    "timm": ["timm", "torch"],
    "optuna": ["optuna"],
    "pandas": ["pandas", "numpy"],
    "sklearn": ["scikit-learn", "joblib"],
}.items():
    _fn = _reuse(_name)
    BUILDERS["torch"][f"training_{_name}"] = (
        lambda out, fn=_fn: [f"training/{p}" for p in fn(out)],
        _libs,
    )


# ---- accelerate, peft, timm, diffusers, sentence-transformers ---------------------------------


@builder(["torch"], ["accelerate", "torch"])
def build_accelerate(out: Path) -> list[str]:
    """``Accelerator.save_state`` and ``save_model``, safetensors and pickle."""
    import torch
    from accelerate import Accelerator

    _seed()
    acc = Accelerator(cpu=True)
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.GELU(), torch.nn.Linear(4, 2))
    opt = torch.optim.AdamW(model.parameters())
    sched = torch.optim.lr_scheduler.LinearLR(opt)
    data = torch.utils.data.DataLoader(torch.arange(8.0).reshape(8, 1), batch_size=2, shuffle=True)
    model, opt, sched, data = acc.prepare(model, opt, sched, data)
    written = []
    for safe in (True, False):
        dest = out / "accelerate" / f"state-{'safetensors' if safe else 'pickle'}"
        with contextlib.redirect_stdout(io.StringIO()):
            acc.save_state(str(dest), safe_serialization=safe)
            acc.save_model(model, str(dest / "model"), safe_serialization=safe)
        written.append(str(dest.relative_to(out)))
    return written


@builder(["torch"], ["peft", "transformers", "torch"])
def build_peft(out: Path) -> list[str]:
    """LoRA and IA3 adapters: ``save_pretrained`` (safetensors and ``.bin``)."""
    from peft import IA3Config, LoraConfig, get_peft_model

    _seed()
    written = []
    configs = {
        "lora": LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"]),
        "ia3": IA3Config(target_modules=["k_proj", "down_proj"], feedforward_modules=["down_proj"]),
    }
    for name, config in configs.items():
        model = get_peft_model(_tiny_models()["llama"], config)  # type: ignore[arg-type]
        for safe in (True, False):
            dest = out / "peft" / f"{name}-{'safetensors' if safe else 'bin'}"
            model.save_pretrained(str(dest), safe_serialization=safe)
            written.append(str(dest.relative_to(out)))
    return written


@builder(["torch"], ["timm", "torch"])
def build_timm(out: Path) -> list[str]:
    """timm models: ``save_for_hf`` (safetensors and ``.bin``) and a plain state_dict."""
    import timm
    import torch
    from timm.models._hub import save_for_hf

    _seed()
    written = []
    vit = timm.create_model(
        "vit_tiny_patch16_224",
        pretrained=False,
        img_size=16,
        patch_size=8,
        embed_dim=8,
        depth=1,
        num_heads=1,
        num_classes=2,
    )
    mobile = timm.create_model("mobilenetv3_small_050", pretrained=False, num_classes=3)
    for name, model in {"vit": vit, "mobilenet": mobile}.items():
        for safe in (True, False):
            dest = out / "timm" / f"{name}-hf-{'safetensors' if safe else 'bin'}"
            dest.mkdir(parents=True, exist_ok=True)
            save_for_hf(model, dest, safe_serialization=safe)
            written.append(str(dest.relative_to(out)))
    torch.save(mobile.state_dict(), out / "timm" / "mobilenet_state_dict.pth")
    written.append("timm/mobilenet_state_dict.pth")
    return written


@builder(["torch"], ["diffusers", "torch"])
def build_diffusers(out: Path) -> list[str]:
    """A tiny UNet2DModel and a DDPM pipeline, from config."""
    from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

    _seed()
    unet = UNet2DModel(
        sample_size=8,
        in_channels=1,
        out_channels=1,
        block_out_channels=(4, 8),
        layers_per_block=1,
        norm_num_groups=4,
        down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"),
    )
    written = []
    for safe in (True, False):
        dest = out / "diffusers" / f"unet-{'safetensors' if safe else 'bin'}"
        unet.save_pretrained(str(dest), safe_serialization=safe)
        written.append(str(dest.relative_to(out)))
    pipe = DDPMPipeline(unet=unet, scheduler=DDPMScheduler(num_train_timesteps=10))
    pipe.save_pretrained(str(out / "diffusers" / "ddpm-pipeline"))
    written.append("diffusers/ddpm-pipeline")
    return written


@builder(["torch"], ["sentence-transformers", "transformers", "torch"])
def build_sentence_transformers(out: Path) -> list[str]:
    """A SentenceTransformer assembled from a config-built BERT (no hub download)."""
    from sentence_transformers import SentenceTransformer, models

    _seed()
    with tempfile.TemporaryDirectory() as tmp:
        bert = _tiny_models()["bert"].bert  # type: ignore[attr-defined]
        bert.save_pretrained(tmp)
        _tokenizer(None).save_pretrained(tmp)  # type: ignore[attr-defined]
        word = models.Transformer(tmp, max_seq_length=16)
        pool = models.Pooling(word.get_word_embedding_dimension(), pooling_mode="mean")
        dense = models.Dense(8, 4)
        model = SentenceTransformer(modules=[word, pool, dense, models.Normalize()], device="cpu")
        written = []
        for safe in (True, False):
            dest = out / "sentence-transformers" / f"st-{'safetensors' if safe else 'bin'}"
            model.save(str(dest), safe_serialization=safe)
            written.append(str(dest.relative_to(out)))
    return written


# ---- torch itself ----------------------------------------------------------------------------


def _net() -> object:
    import torch

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 2, 3)
            self.norm = torch.nn.BatchNorm2d(2)
            self.fc = torch.nn.Linear(2 * 6 * 6, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = torch.relu(self.norm(self.conv(x)))
            return torch.softmax(self.fc(x.flatten(1)), dim=-1)

    return Net()


@builder(["torch"], ["torch"])
def build_torch_save(out: Path) -> list[str]:
    """``torch.save`` of state_dicts (zip, legacy, pickle.dump), checkpoints and whole modules."""
    import torch

    _seed()
    dest = out / "torch"
    dest.mkdir(parents=True, exist_ok=True)
    net = _net()
    seq = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4), torch.nn.Dropout(0.1))
    sd = net.state_dict()  # type: ignore[attr-defined]
    opt = torch.optim.Adam(net.parameters())  # type: ignore[attr-defined]
    net(torch.randn(2, 1, 8, 8)).sum().backward()  # type: ignore[operator]
    opt.step()
    torch.save(sd, dest / "state_dict.pt")
    torch.save(sd, dest / "state_dict_legacy.pt", _use_new_zipfile_serialization=False)
    (dest / "state_dict_pickle.pkl").write_bytes(pickle.dumps(sd))
    torch.save(
        {"epoch": 3, "model": sd, "optimizer": opt.state_dict(), "loss": 0.25, "step": 10},
        dest / "checkpoint.pth",
    )
    torch.save(
        {
            "tensors": [
                torch.zeros(2, dtype=dt_) for dt_ in (torch.float16, torch.bfloat16, torch.int8)
            ]
        },
        dest / "dtypes.pt",
    )
    torch.save(seq, dest / "whole_module_sequential.pt")
    torch.save(
        torch.nn.Linear(2, 2),
        dest / "whole_module_linear_legacy.pt",
        _use_new_zipfile_serialization=False,
    )
    torch.save(sd, dest / "state_dict.bin")
    from safetensors.torch import save_file

    save_file(
        {k: v.contiguous() for k, v in sd.items()},
        dest / "state_dict.safetensors",
        metadata={"format": "pt"},
    )
    return [
        "torch/state_dict.pt",
        "torch/state_dict_legacy.pt",
        "torch/state_dict_pickle.pkl",
        "torch/checkpoint.pth",
        "torch/dtypes.pt",
        "torch/whole_module_sequential.pt",
        "torch/whole_module_linear_legacy.pt",
        "torch/state_dict.bin",
        "torch/state_dict.safetensors",
    ]


@builder(["torch"], ["torch"])
def build_torchscript(out: Path) -> list[str]:
    """``torch.jit.script`` and ``trace`` saves, and a ``.ptl`` for the lite interpreter."""
    import torch

    _seed()
    dest = out / "torchscript"
    dest.mkdir(parents=True, exist_ok=True)
    net = _net().eval()  # type: ignore[attr-defined]
    example = torch.randn(1, 1, 8, 8)
    scripted = torch.jit.script(net)
    scripted.save(str(dest / "scripted.pt"))
    traced = torch.jit.trace(net, example)
    traced.save(str(dest / "traced.pt"))
    lstm = torch.jit.script(torch.nn.LSTM(4, 4, batch_first=True))
    lstm.save(str(dest / "lstm_scripted.pt"))
    scripted._save_for_lite_interpreter(str(dest / "scripted.ptl"))
    return [
        "torchscript/scripted.pt",
        "torchscript/traced.pt",
        "torchscript/lstm_scripted.pt",
        "torchscript/scripted.ptl",
    ]


@builder(["torch"], ["torch"])
def build_torch_export(out: Path) -> list[str]:
    """``torch.export.save`` (``.pt2``)."""
    import torch

    _seed()
    dest = out / "torch-export"
    dest.mkdir(parents=True, exist_ok=True)
    program = torch.export.export(_net().eval(), (torch.randn(1, 1, 8, 8),))  # type: ignore[attr-defined]
    torch.export.save(program, dest / "net.pt2")
    return ["torch-export/net.pt2"]


@builder(["torch"], ["torch", "onnx", "onnxscript", "onnxruntime"])
def build_onnx(out: Path) -> list[str]:
    """``torch.onnx.export`` (TorchScript-based and dynamo), onnxruntime-optimised and quantised."""
    import torch

    _seed()
    dest = out / "onnx"
    dest.mkdir(parents=True, exist_ok=True)
    net = _net().eval()  # type: ignore[attr-defined]
    example = (torch.randn(1, 1, 8, 8),)
    written = []
    torch.onnx.export(net, example, str(dest / "net_legacy.onnx"), dynamo=False, input_names=["x"])
    written.append("onnx/net_legacy.onnx")
    with contextlib.redirect_stdout(io.StringIO()):
        torch.onnx.export(net, example, str(dest / "net_dynamo.onnx"), dynamo=True)
    written.append("onnx/net_dynamo.onnx")
    # External data: the tensors beside the graph, as large exports are written.
    import onnx

    model = onnx.load(str(dest / "net_legacy.onnx"))
    (dest / "external").mkdir(exist_ok=True)
    onnx.save_model(
        model,
        str(dest / "external" / "net.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="net.onnx.data",
        size_threshold=0,
    )
    written.append("onnx/external")
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(dest / "net_legacy.onnx"), str(dest / "net_quant.onnx"), weight_type=QuantType.QInt8
    )
    written.append("onnx/net_quant.onnx")
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    opts.optimized_model_filepath = str(dest / "net_ort_optimized.onnx")
    ort.InferenceSession(str(dest / "net_legacy.onnx"), opts, providers=["CPUExecutionProvider"])
    written.append("onnx/net_ort_optimized.onnx")
    return written


# ---- classic ML -------------------------------------------------------------------------------


def _xy() -> tuple[object, object]:
    import numpy as np

    rng = np.random.RandomState(0)
    x = rng.randn(60, 4)
    y = (x[:, 0] + 0.1 * rng.randn(60) > 0).astype(int)
    return x, y


@builder(["torch"], ["scikit-learn", "joblib", "skops"])
def build_sklearn(out: Path) -> list[str]:
    """More estimators, pickled (protocols 2-5), joblib (compressed too) and skops."""
    import joblib
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeRegressor

    x, y = _xy()
    dest = out / "sklearn"
    dest.mkdir(parents=True, exist_ok=True)
    models = {
        "gbc": GradientBoostingClassifier(n_estimators=3, max_depth=2).fit(x, y),
        "hgb": HistGradientBoostingClassifier(max_iter=3).fit(x, y),
        "svc": SVC(probability=True).fit(x, y),
        "knn": KNeighborsClassifier(3).fit(x, y),
        "tree": DecisionTreeRegressor(max_depth=2).fit(x, y),
        "tfidf": TfidfVectorizer().fit(["the model is safe", "scan the weights", "hello world"]),
        "column": ColumnTransformer(
            [("num", StandardScaler(), [0, 1]), ("cat", OneHotEncoder(), [2])]
        ).fit([[0.1, 1.0, "a"], [0.2, 2.0, "b"]]),
        "pipeline": make_pipeline(StandardScaler(), SVC()).fit(x, y),
    }
    written = []
    for name, model in models.items():
        for proto in (2, 4, 5):
            (dest / f"{name}_p{proto}.pkl").write_bytes(pickle.dumps(model, protocol=proto))
            written.append(f"sklearn/{name}_p{proto}.pkl")
        joblib.dump(model, dest / f"{name}.joblib")
        written.append(f"sklearn/{name}.joblib")
    joblib.dump(models["hgb"], dest / "hgb_compressed.joblib", compress=3)
    written.append("sklearn/hgb_compressed.joblib")
    with contextlib.suppress(ImportError):
        import skops.io

        for name in ("gbc", "pipeline", "svc"):
            skops.io.dump(models[name], dest / f"{name}.skops")
            written.append(f"sklearn/{name}.skops")
    return written


@builder(["torch"], ["xgboost"])
def build_xgboost(out: Path) -> list[str]:
    """XGBoost: native JSON and UBJSON, pickle and joblib of the sklearn wrapper."""
    import joblib
    import xgboost as xgb

    x, y = _xy()
    dest = out / "xgboost"
    dest.mkdir(parents=True, exist_ok=True)
    model = xgb.XGBClassifier(n_estimators=3, max_depth=2).fit(x, y)
    model.save_model(dest / "model.json")
    model.save_model(dest / "model.ubj")
    model.get_booster().save_model(dest / "booster.bin.json")
    (dest / "model.pkl").write_bytes(pickle.dumps(model))
    joblib.dump(model, dest / "model.joblib")
    return [
        f"xgboost/{n}"
        for n in ("model.json", "model.ubj", "booster.bin.json", "model.pkl", "model.joblib")
    ]


@builder(["torch"], ["lightgbm"])
def build_lightgbm(out: Path) -> list[str]:
    """LightGBM: native text model, pickle and joblib."""
    import joblib
    import lightgbm as lgb

    x, y = _xy()
    dest = out / "lightgbm"
    dest.mkdir(parents=True, exist_ok=True)
    model = lgb.LGBMClassifier(n_estimators=3, verbose=-1).fit(x, y)
    model.booster_.save_model(str(dest / "model.txt"))
    (dest / "model.pkl").write_bytes(pickle.dumps(model))
    joblib.dump(model, dest / "model.joblib")
    return ["lightgbm/model.txt", "lightgbm/model.pkl", "lightgbm/model.joblib"]


@builder(["torch"], ["catboost"])
def build_catboost(out: Path) -> list[str]:
    """CatBoost: native ``.cbm``, JSON and ONNX exports, and a pickle."""
    from catboost import CatBoostClassifier

    x, y = _xy()
    dest = out / "catboost"
    dest.mkdir(parents=True, exist_ok=True)
    model = CatBoostClassifier(iterations=3, depth=2, verbose=False, train_dir=str(dest / "_train"))
    model.fit(x, y)
    model.save_model(str(dest / "model.cbm"))
    model.save_model(str(dest / "model.json"), format="json")
    model.save_model(str(dest / "model_catboost.onnx"), format="onnx")
    (dest / "model.pkl").write_bytes(pickle.dumps(model))
    import shutil

    shutil.rmtree(dest / "_train", ignore_errors=True)
    return [
        f"catboost/{n}" for n in ("model.cbm", "model.json", "model_catboost.onnx", "model.pkl")
    ]


@builder(["torch"], ["numpy"])
def build_numpy(out: Path) -> list[str]:
    """``np.save`` / ``savez`` / ``savez_compressed``, and an object array (allow_pickle)."""
    import numpy as np

    dest = out / "numpy"
    dest.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    np.save(dest / "float32.npy", rng.standard_normal((4, 3)).astype("float32"))
    np.save(dest / "fortran.npy", np.asfortranarray(rng.standard_normal((3, 2))))
    np.save(dest / "structured.npy", np.zeros(3, dtype=[("a", "<i4"), ("b", "<f8", (2,))]))
    np.save(
        dest / "object.npy",
        np.array([{"k": 1}, "text", 2.5, None], dtype=object),
        allow_pickle=True,
    )
    np.savez(dest / "arrays.npz", a=np.arange(5), b=np.eye(2))
    np.savez_compressed(dest / "compressed.npz", a=np.arange(100), s=np.array(["x", "yz"]))
    return [
        f"numpy/{n}"
        for n in (
            "float32.npy",
            "fortran.npy",
            "structured.npy",
            "object.npy",
            "arrays.npz",
            "compressed.npz",
        )
    ]


@builder(["torch"], ["spacy"])
def build_spacy(out: Path) -> list[str]:
    """spaCy: a blank pipeline and one with components, ``to_disk``, plus a DocBin."""
    import spacy
    from spacy.tokens import DocBin

    dest = out / "spacy"
    dest.mkdir(parents=True, exist_ok=True)
    blank = spacy.blank("en")
    blank.to_disk(dest / "blank-en")
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "ORG", "pattern": "mlchain"}])  # type: ignore[attr-defined]
    textcat = nlp.add_pipe("textcat")
    textcat.add_label("SAFE")  # type: ignore[attr-defined]
    textcat.add_label("UNSAFE")  # type: ignore[attr-defined]
    nlp.initialize()
    nlp.to_disk(dest / "pipeline-en")
    docs = DocBin(docs=[nlp("mlchain scans the model. It is safe.")])
    docs.to_disk(dest / "corpus.spacy")
    return ["spacy/blank-en", "spacy/pipeline-en", "spacy/corpus.spacy"]


@builder(["torch"], ["sentencepiece"])
def build_sentencepiece(out: Path) -> list[str]:
    """A sentencepiece model trained on a few lines (what tokenizer.model files are)."""
    import sentencepiece as spm

    dest = out / "sentencepiece"
    dest.mkdir(parents=True, exist_ok=True)
    text = "\n".join(f"the model number {i} is safe to scan and load" for i in range(200))
    with contextlib.redirect_stderr(io.StringIO()):
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(text.splitlines()),
            model_prefix=str(dest / "tokenizer"),
            vocab_size=40,
            minloglevel=2,
        )
    (dest / "tokenizer.vocab").unlink(missing_ok=True)
    return ["sentencepiece/tokenizer.model"]


@builder(["torch"], ["gguf", "numpy"])
def build_gguf(out: Path) -> list[str]:
    """GGUF files written by the ``gguf`` package, one per real chat template under fixtures/."""
    import gguf
    import numpy as np

    sys.path.insert(0, str(FIXTURES))
    from chat_templates import BENIGN

    dest = out / "gguf"
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    templates = dict(BENIGN)
    # The real templates committed by the chat-template work (llama.cpp's and vLLM's copies).
    for path in sorted((FIXTURES / "chat_templates_real").rglob("*.jinja")):
        templates[f"{path.parent.name}-{path.stem}"] = path.read_text(encoding="utf-8")
    for name, template in templates.items():
        path = dest / f"{name}.gguf"
        writer = gguf.GGUFWriter(str(path), "llama")
        writer.add_name(f"tiny-{name}")
        writer.add_context_length(16)
        writer.add_embedding_length(8)
        writer.add_block_count(1)
        writer.add_head_count(1)
        writer.add_tokenizer_model("llama")
        writer.add_token_list([b"<unk>", b"<s>", b"</s>", b"hello"])
        writer.add_token_scores([0.0, 0.0, 0.0, -1.0])
        writer.add_bos_token_id(1)
        writer.add_eos_token_id(2)
        writer.add_chat_template(template)
        writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
        writer.add_tensor("output_norm.weight", np.ones(8, dtype=np.float16))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        written.append(f"gguf/{name}.gguf")
    return written


# ---- TensorFlow / Keras ---------------------------------------------------------------------


def _keras_model(keras: object) -> object:
    k = keras
    inputs = k.Input((8,), name="x")  # type: ignore[attr-defined]
    h = k.layers.Dense(4, activation="relu")(inputs)  # type: ignore[attr-defined]
    h = k.layers.Dropout(0.1)(h)  # type: ignore[attr-defined]
    h = k.layers.BatchNormalization()(h)  # type: ignore[attr-defined]
    outputs = k.layers.Dense(2, activation="softmax")(h)  # type: ignore[attr-defined]
    model = k.Model(inputs, outputs)  # type: ignore[attr-defined]
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@builder(["tf"], ["keras", "tensorflow-cpu", "h5py"])
def build_keras3(out: Path) -> list[str]:
    """Keras 3: ``.keras``, ``.weights.h5``, the legacy ``.h5`` save and ``model.export``."""
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    dest = out / "keras3"
    dest.mkdir(parents=True, exist_ok=True)
    model = _keras_model(keras)
    model.fit(np.random.rand(8, 8), np.random.randint(0, 2, 8), epochs=1, verbose=0)  # type: ignore[attr-defined]
    model.save(dest / "model.keras")  # type: ignore[attr-defined]
    model.save_weights(dest / "model.weights.h5")  # type: ignore[attr-defined]
    model.save(dest / "legacy.h5")  # type: ignore[attr-defined]
    seq = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3), keras.layers.LayerNormalization()]
    )
    seq.save(dest / "sequential.keras")
    written = [
        "keras3/model.keras",
        "keras3/model.weights.h5",
        "keras3/legacy.h5",
        "keras3/sequential.keras",
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        model.export(str(dest / "exported-savedmodel"))  # type: ignore[attr-defined]
    written.append("keras3/exported-savedmodel")
    return written


@builder(["tf"], ["tf_keras", "tensorflow-cpu", "h5py"])
def build_tf_keras(out: Path) -> list[str]:
    """tf_keras (Keras 2): HDF5 ``.h5``, weights ``.h5`` and the SavedModel format."""
    import numpy as np
    import tf_keras

    dest = out / "tf_keras"
    dest.mkdir(parents=True, exist_ok=True)
    model = _keras_model(tf_keras)
    model.fit(np.random.rand(8, 8), np.random.randint(0, 2, 8), epochs=1, verbose=0)  # type: ignore[attr-defined]
    model.save(str(dest / "model.h5"))  # type: ignore[attr-defined]
    model.save_weights(str(dest / "weights.h5"))  # type: ignore[attr-defined]
    model.save(str(dest / "savedmodel"), save_format="tf")  # type: ignore[attr-defined]
    model.save_weights(str(dest / "ckpt" / "weights"))  # type: ignore[attr-defined]
    return ["tf_keras/model.h5", "tf_keras/weights.h5", "tf_keras/savedmodel", "tf_keras/ckpt"]


@builder(["tf"], ["tensorflow-cpu"])
def build_tensorflow(out: Path) -> list[str]:
    """``tf.saved_model.save`` of a tf.Module, a ``tf.train.Checkpoint`` and TFLite models."""
    import tensorflow as tf

    tf.random.set_seed(0)
    dest = out / "tensorflow"
    dest.mkdir(parents=True, exist_ok=True)

    class Affine(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable(tf.random.normal((8, 2)))
            self.b = tf.Variable(tf.zeros(2))

        @tf.function(input_signature=[tf.TensorSpec((None, 8), tf.float32)])
        def __call__(self, x: object) -> object:
            return tf.nn.softmax(tf.matmul(x, self.w) + self.b)

    module = Affine()
    tf.saved_model.save(module, str(dest / "savedmodel"))
    tf.train.Checkpoint(module=module).write(str(dest / "ckpt" / "module"))
    converter = tf.lite.TFLiteConverter.from_saved_model(str(dest / "savedmodel"))
    (dest / "affine.tflite").write_bytes(converter.convert())
    converter = tf.lite.TFLiteConverter.from_saved_model(str(dest / "savedmodel"))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    (dest / "affine_quant.tflite").write_bytes(converter.convert())
    return [
        "tensorflow/savedmodel",
        "tensorflow/ckpt",
        "tensorflow/affine.tflite",
        "tensorflow/affine_quant.tflite",
    ]


def _versions(dists: list[str]) -> str:
    out = []
    for dist in dists:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            out.append(f"{dist} {importlib.metadata.version(dist)}")
    return ", ".join(out)


def build_group(group: str, out: Path) -> list[dict[str, str]]:
    """Run every builder of ``group`` here; return manifest rows (artifacts and skips)."""
    _quiet()
    with contextlib.suppress(ImportError):
        import torch  # noqa: F401 - the shim below patches torch.library

        _training()._torchvision_shim()  # type: ignore[attr-defined]
    rows: list[dict[str, str]] = []
    for name, (fn, libs) in BUILDERS[group].items():
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                paths = fn(out)
        except ImportError as exc:
            rows.append(
                {"builder": name, "group": group, "skipped": f"{exc.name or exc} is not installed"}
            )
            print(f"  {group}/{name}: skipped ({exc})", flush=True)
            continue
        except Exception as exc:
            last = traceback.format_exception_only(type(exc), exc)[-1].strip()
            rows.append({"builder": name, "group": group, "skipped": f"build failed: {last[:300]}"})
            print(f"  {group}/{name}: FAILED ({last[:300]})", flush=True)
            continue
        versions = _versions(libs)
        for path in paths:
            rows.append({"builder": name, "group": group, "artifact": path, "libraries": versions})
        print(
            f"  {group}/{name}: {len(paths)} artifact(s) in {time.perf_counter() - t0:.1f}s",
            flush=True,
        )
    return rows


# ------------------------------------------------------------------------------ scanning --------


def scan_artifact(path: Path) -> dict[str, object]:
    """One whole ``mlchain scan`` process on ``path``: exit code, time, findings summary."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLCHAIN_")}
    t0 = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlchain",
            "scan",
            str(path),
            "--format",
            "json",
            "--fail-on",
            "medium",
            "-j",
            "1",
        ],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    seconds = time.perf_counter() - t0
    row: dict[str, object] = {"exit": done.returncode, "seconds": round(seconds, 3)}
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        row["error"] = (done.stderr.strip().splitlines() or ["no output"])[-1][:300]
        return row
    findings = [(r, f) for r in report["results"] for f in r["findings"]]
    row["files"] = report["summary"]["files"]
    row["max_severity"] = report["summary"]["max_severity"]
    row["rules"] = sorted({f"{f['rule_id']} ({f['severity']})" for _, f in findings})
    row["gated"] = sorted(
        {
            f"{f['rule_id']} ({f['severity']}) {r['location']['path']}"
            + (f"!{f['location']['member']}" if f["location"].get("member") else "")
            + f": {f['message'][:160]}"
            for r, f in findings
            if f["severity"] in ("medium", "high", "critical")
        }
    )
    row["not_scanned"] = sorted(
        f"{r['location']['path']} ({r['format']}: {r['skipped']})"
        for r in report["results"]
        if r["skipped"]
    )
    return row


def _startup() -> str:
    """Median wall time of ``mlchain --version`` (the interpreter and CLI start-up)."""
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "mlchain", "--version"], capture_output=True, check=False
        )
        times.append(time.perf_counter() - t0)
    return f"{sorted(times)[2]:.2f}"


def write_results(rows: list[dict[str, object]], results: Path, meta: dict[str, str]) -> None:
    """The Markdown table of docs/realworld.md."""
    built = [r for r in rows if "artifact" in r]
    failing = [r for r in built if r.get("exit") != 0]
    seconds = sorted(float(r["seconds"]) for r in built if "seconds" in r)
    if seconds:
        meta = {
            **meta,
            "median": f"{seconds[len(seconds) // 2]:.2f}",
            "total": f"{sum(seconds):.0f}",
        }
    lines = [
        "# Real-world corpus: what mlchain says about what the libraries write",
        "",
        "Generated by `benchmarks/realworld.py` (`nox -s realworld`; not part of the tests or CI).",
        "Every artifact below was written by the real library, from a tiny config-built model with",
        "random weights (nothing downloaded), then scanned by one `mlchain scan <artifact> --format json",
        "--fail-on medium -j 1` process. Issue 14's acceptance is that all of them pass the default",
        "gate: no finding at or above medium.",
        "",
        f"Date: {meta['date']}  ",
        f"Machine: {meta['machine']}  ",
        f"mlchain: {meta['mlchain']} (pickle allowlist {meta['allowlist']})  ",
        f"Artifacts: {len(built)}; pass at `--fail-on medium`: {len(built) - len(failing)}; fail: {len(failing)}",
        "",
        "Time is the wall time of the whole `mlchain scan` process, Python start-up included",
        f"(`mlchain --version` alone takes {meta['startup']} s here; the scanners' imports add to it).",
        f"Median scan time {meta.get('median', '?')} s, total {meta.get('total', '?')} s. The machine is",
        'shared, so times vary. A folder artifact is scanned as one run; "not scanned" counts its',
        "files that mlchain reported as not scanned (a reason is always given).",
        "",
        "| artifact | library | files | not scanned | max severity | rule ids | --fail-on medium | scan s |",
        "|---|---|---:|---:|---|---|---|---:|",
    ]
    for r in built:
        verdict = (
            "pass"
            if r.get("exit") == 0
            else ("FAIL" if r.get("exit") == 1 else f"error (exit {r.get('exit')})")
        )
        if r.get("note"):
            verdict += f" ({r['note']})"
        rules = ", ".join(r.get("rules", [])) or "-"  # type: ignore[arg-type]
        lines.append(
            f"| `{r['artifact']}` | {r['libraries']} | {r.get('files', '?')} | {len(r.get('not_scanned', []))} "  # type: ignore[arg-type]
            f"| {r.get('max_severity') or '-'} | {rules} | {verdict} | {r.get('seconds', '?')} |"
        )
    skipped = [r for r in rows if "skipped" in r]
    if skipped:
        lines += ["", "## Not built", "", "| group | builder | why |", "|---|---|---|"]
        lines += [
            f"| {r['group']} | {r['builder']} | {str(r['skipped']).replace('|', '/')} |"
            for r in skipped
        ]
    if failing:
        present = [
            text
            for key, text in NOTES.items()
            if any(key in str(r.get("note", "")) for r in failing)
        ]
        if present:
            lines += ["", "## Why the failures fail", "", *present]
        lines += ["", "## Findings at or above medium", ""]
        for r in failing:
            lines.append(
                f"- `{r['artifact']}`" + (f" ({r['note']})" if r.get("note") else "") + ":"
            )
            for g in r.get("gated", []) or [r.get("error", "?")]:  # type: ignore[union-attr]
                lines.append(f"  - {str(g).replace('|', '/')}")
    unscanned = [(r["artifact"], n) for r in built for n in r.get("not_scanned", [])]  # type: ignore[union-attr]
    if unscanned:
        lines += ["", "## Files reported as not scanned", ""]
        lines += [f"- `{a}`: {n}" for a, n in unscanned]
    results.write_text("\n".join(lines) + "\n")


# Known, explained failures: artifact substring -> note shown beside the verdict, and note key
# -> paragraph under "Notes". Empty since allowlist 2026.12.3: the formats branch was merged
# (TorchScript, SavedModel, HDF5, TFLite, skops) and the XGBoost/LightGBM/CatBoost pickles were
# reviewed (src/mlchain/scan/pickle/allowlist_data.py, "Gradient-boosting libraries"). A new
# entry here is a false alarm someone has explained, not fixed: keep the list short.
EXPLAINED: dict[str, str] = {}
NOTES: dict[str, str] = {}


def _note(artifact: str, row: dict[str, object]) -> str:
    if row.get("exit") == 0:
        return ""
    return next((why for key, why in EXPLAINED.items() if key in artifact), "")


def _meta() -> dict[str, str]:
    from mlchain import __version__
    from mlchain.scan.pickle.allowlist import ALLOWLIST_VERSION

    return {
        "startup": _startup(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "mlchain": __version__,
        "allowlist": ALLOWLIST_VERSION,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    build = sub.add_parser("build", help="(inside a group's environment) build its artifacts")
    build.add_argument("--group", required=True, choices=sorted(GROUPS))
    build.add_argument("--out", required=True, type=Path)
    parser.add_argument(
        "--work", type=Path, default=None, help="corpus folder (default: a temp dir)"
    )
    parser.add_argument(
        "--envs", type=Path, default=None, help="create the group environments here"
    )
    parser.add_argument(
        "--python", action="append", default=[], help="GROUP=PYTHON: reuse an environment"
    )
    parser.add_argument("--only", action="append", default=[], help="only these groups")
    parser.add_argument("--results", type=Path, default=ROOT / "docs" / "realworld.md")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw rows here")
    parser.add_argument(
        "--render",
        type=Path,
        default=None,
        help="only rewrite --results from the rows a previous run saved with --json",
    )
    parser.add_argument(
        "--skip-build",
        action="store_true",
        help="rescan the artifacts a previous run left in --work (e.g. after merging a scanner)",
    )
    args = parser.parse_args(argv)

    if args.render is not None:
        rows = json.loads(args.render.read_text())
        write_results(rows, args.results, _meta())
        return 0
    if args.command == "build":
        args.out.mkdir(parents=True, exist_ok=True)
        rows = build_group(args.group, args.out)
        (args.out / f"manifest-{args.group}.json").write_text(json.dumps(rows, indent=1))
        return 0

    pythons = dict(p.split("=", 1) for p in args.python)
    work = args.work or Path(tempfile.mkdtemp(prefix="mlchain-realworld-"))
    work.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, object]] = []
    for group in GROUPS:
        if args.only and group not in args.only:
            continue
        manifest = work / group / f"manifest-{group}.json"
        if args.skip_build and (work / f"rows-{group}.json").exists():
            rows.extend(json.loads((work / f"rows-{group}.json").read_text()))
            continue
        python = pythons.get(group)
        failed: dict[str, str] = {}
        if python is None and args.envs is not None:
            print(f"{group}: installing into {args.envs / group}", flush=True)
            python, failed = setup_env(group, args.envs)
        if python is None:
            rows.append(
                {
                    "group": group,
                    "builder": "*",
                    "skipped": "no environment (give --python or --envs)",
                }
            )
            continue
        print(f"{group}: building with {python}", flush=True)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        subprocess.run(
            [python, __file__, "build", "--group", group, "--out", str(work / group)],
            check=False,
            env=env,
        )
        manifest = work / group / f"manifest-{group}.json"
        group_rows = (
            json.loads(manifest.read_text())
            if manifest.exists()
            else [
                {
                    "group": group,
                    "builder": "*",
                    "skipped": "the build process crashed (see its output)",
                }
            ]
        )
        for row in group_rows:
            if "artifact" in row:
                row["artifact"] = f"{group}/{row['artifact']}"
        group_rows = [
            {"group": group, "builder": f"(pip install {p})", "skipped": why}
            for p, why in failed.items()
        ] + group_rows
        (work / f"rows-{group}.json").write_text(json.dumps(group_rows, indent=1))
        rows.extend(group_rows)

    print(f"scanning with {sys.executable} -m mlchain", flush=True)
    for row in rows:
        if "artifact" not in row:
            continue
        row.update(scan_artifact(work / str(row["artifact"])))
        row["note"] = _note(str(row["artifact"]), row)
        mark = "ok " if row.get("exit") == 0 else "BAD"
        print(
            f"  {mark} {row['artifact']}: {row.get('max_severity')} {row.get('seconds')}s",
            flush=True,
        )

    write_results(rows, args.results, _meta())
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    bad = [r for r in rows if "artifact" in r and r.get("exit") != 0]
    print(f"{len(bad)} artifact(s) fail the default gate; table in {args.results}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
