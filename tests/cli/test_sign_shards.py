"""`mlchain sign --shard-size`: one large file hashed on every core (mlchain issue #19, item 8).

A sharded signature names pieces ``path:start:end``; verify and the deploy gate fold them back into
files wherever a file is meant (counts, scan coverage) and never take a shard digest for a file's.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from helpers import FIXTURES, run_cli
from mlchain.errors import UsageError
from signing_helpers import write_key

MIB = 1 << 20


def _weights(path: Path, mib: int = 3) -> Path:
    save_file({"w": np.zeros(mib * MIB // 4 + 1000, dtype=np.float32)}, str(path))
    return path


def _verify(model: Path, public: Path) -> tuple[int, dict]:
    done = run_cli("verify", str(model), "--key", str(public), "-f", "json")
    return done.exit_code, json.loads(done.stdout)


def test_one_file_in_shards_verifies_and_a_change_names_its_shard(tmp_path: Path) -> None:
    pair = write_key(tmp_path)
    model = _weights(tmp_path / "w.safetensors")
    signed = run_cli("sign", str(model), "--key", str(pair.private), "--shard-size", "1MiB")
    assert signed.exit_code == 0, signed.stderr
    assert "Signed 1 file(s) of w.safetensors (key, sha256 in 4 shards)" in signed.stderr
    code, report = _verify(model, pair.public)
    assert code == 0, report
    assert report["shard_size"] == MIB
    assert sorted(report["files"]) == [
        f"w.safetensors:{a}:{b}"
        for a, b in [(0, MIB), (MIB, 2 * MIB), (2 * MIB, 3 * MIB), (3 * MIB, model.stat().st_size)]
    ]
    table = run_cli("verify", str(model), "--key", str(pair.public))
    assert "1 signed file, sha256 in 4 shards of 1048576 bytes" in table.stdout

    with model.open("r+b") as handle:  # one byte in the second shard
        handle.seek(MIB + 10)
        handle.write(b"\x01")
    code, report = _verify(model, pair.public)
    assert code == 1
    assert report["errors"] == [
        e for e in report["errors"] if e.startswith(f"w.safetensors:{MIB}:{2 * MIB}: changed")
    ]
    assert report["errors"]


def test_a_grown_file_is_an_extra_shard(tmp_path: Path) -> None:
    pair = write_key(tmp_path)
    model = _weights(tmp_path / "w.safetensors", mib=2)
    assert (
        run_cli("sign", str(model), "--key", str(pair.private), "--shard-size", "1MiB").exit_code
        == 0
    )
    with model.open("ab") as handle:
        handle.write(b"\0" * 10)
    code, report = _verify(model, pair.public)
    assert code == 1
    assert any("extra shard (present but not signed)" in e for e in report["errors"])
    assert any("missing (signed but not found)" in e for e in report["errors"])


def test_the_gate_allows_a_shard_signed_model_and_checks_coverage_per_file(
    tmp_path: Path,
) -> None:
    pair = write_key(tmp_path)
    model = tmp_path / "models" / "tiny"
    shutil.copytree(FIXTURES / "hfmodel" / "benign" / "tiny-llama", model)
    _weights(model / "extra.safetensors")
    sign = ("--key", str(pair.private))
    assert run_cli("sign", str(model), *sign, "--shard-size", "1MiB").exit_code == 0
    atts = model.parent / "tiny.mlchain"
    atts.mkdir()
    for command, out in (("provenance", "provenance.json"), ("attest", "scan.json")):
        made = run_cli(command, str(model), "--sign", *sign, "-o", str(atts / out))
        assert made.exit_code == 0, made.stderr
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "apiVersion: mlchain.dev/v1alpha1\nkind: ModelPolicy\nmetadata:\n  name: gate\nspec:\n"
        f"  authorities:\n    - name: release\n      key:\n        path: {pair.public}\n"
        "  attestations:\n    - type: provenance\n    - type: scan\n  scan:\n    failOn: low\n"
    )
    done = run_cli("verify", str(model), "--policy", str(policy), "-f", "json")
    report = json.loads(done.stdout)
    assert done.exit_code == 0, report
    rules = {r["name"]: r for r in report["results"]}
    assert rules["scan-coverage"]["passed"], rules["scan-coverage"]
    assert all(r["passed"] for r in report["results"])
    assert report["verification"]["shard_size"] == MIB

    (model / "extra.safetensors").unlink()  # the shards' file is gone: denied, not "covered"
    done = run_cli("verify", str(model), "--policy", str(policy), "-f", "json")
    assert done.exit_code == 1


@pytest.mark.skipif(os.name != "posix", reason="the gate pins descriptors on POSIX only")
def test_pinned_file_swapped_for_a_shorter_one_is_refused(tmp_path: Path) -> None:
    """Shards are cut by the size the name has; the pinned bytes past them must not go unchecked."""
    from mlchain.pinned import pinned
    from mlchain.signing import manifest as _manifest

    model = tmp_path / "m"
    model.mkdir()
    weights = _weights(model / "w.safetensors")
    config = _manifest.hashing_config(
        algorithm="sha256", ignore=[], allow_symlinks=False, method="shards", shard_size=MIB
    )
    with pinned([(weights, None)]):
        shorter = model / "short.tmp"
        shorter.write_bytes(weights.read_bytes()[: 2 * MIB])
        os.replace(shorter, weights)  # the name now leads to 2 MiB; the pin holds 3 MiB + 4000
        with pytest.raises(ValueError, match=r"w\.safetensors changed while it was verified"):
            _manifest.hash_model(config, model)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1GiB", 1 << 30),
        ("512MiB", 512 * MIB),
        ("1048576", MIB),
        ("2m", 2 * MIB),
        (" 1 G ", 1 << 30),
    ],
)
def test_shard_sizes_read(text: str, size: int) -> None:
    from mlchain.cli.sign import parse_shard_size

    assert parse_shard_size(text) == size


@pytest.mark.parametrize("text", ["1KiB", "0", "1.5GiB", "1GB", "abc", "", "-1MiB"])
def test_bad_shard_sizes_are_usage_errors(text: str) -> None:
    from mlchain.cli.sign import parse_shard_size

    with pytest.raises(UsageError, match="--shard-size"):
        parse_shard_size(text)


def test_bad_shard_size_exits_2_before_hashing(tmp_path: Path) -> None:
    pair = write_key(tmp_path)
    model = _weights(tmp_path / "w.safetensors", mib=1)
    done = run_cli("sign", str(model), "--key", str(pair.private), "--shard-size", "4KiB")
    assert done.exit_code == 2
    assert "below 1 MiB" in done.stderr
    assert not (tmp_path / "w.safetensors.sig").exists()
