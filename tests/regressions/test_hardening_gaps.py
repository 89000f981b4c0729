"""Gaps left open by the first hardening pass, one regression test each.

No public advisory covers these: each test cites the review item or issue it closes
(shared/reviews/UX_AUDIT.md, shared/reviews/SECURITY_REVIEW.md, mlchain issues #13 and #15).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import run_cli

EVIL_PICKLE = b"cos\nsystem\n(S'echo pwned'\ntR."
"""A 27-byte protocol-0 pickle calling ``os.system`` (never loaded)."""


def _as_uid(uid: int, *args: str) -> tuple[int, str, str]:
    """Run the CLI in a forked child under ``uid``: (exit code, stdout, stderr)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop to the unprivileged user, run, report, never return
        code = 99
        try:
            os.close(read)
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            result = run_cli(*args)
            code = result.exit_code
            payload = json.dumps({"out": result.stdout, "err": result.stderr})
            os.write(write, payload.encode()[:1_000_000])
        except BaseException as exc:  # report anything, the parent asserts
            os.write(write, json.dumps({"out": "", "err": repr(exc)}).encode())
        finally:
            os._exit(code)
    os.close(write)
    chunks = []
    while chunk := os.read(read, 65536):
        chunks.append(chunk)
    os.close(read)
    _, status = os.waitpid(pid, 0)
    data = json.loads(b"".join(chunks) or b'{"out": "", "err": ""}')
    return os.waitstatus_to_exitcode(status), data["out"], data["err"]


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder an unprivileged uid can traverse (pytest's own tmp folders are 0700)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to an unprivileged uid (os.setresuid)")
    folder = Path(tempfile.mkdtemp(prefix="mlchain-uid-"))
    folder.chmod(0o755)
    yield folder
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    shutil.rmtree(folder)


def _json_scan(*args: str) -> tuple[int, dict[str, Any]]:
    result = run_cli("scan", "--format", "json", *args)
    return result.exit_code, json.loads(result.stdout)


def _rules(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for res in report["results"]:
        for found in res["findings"]:
            out.setdefault(found["rule_id"], []).append(found)
    return out


# -- 1. unlistable folders fail closed (UX audit, top-10 item 2) ------------------------------


def test_unlistable_scan_root_is_a_finding_not_a_pass(shared_dir: Path) -> None:
    """UX audit top-10 #2: ``mlchain scan closed/`` on a 0700 folder of another user exited 0,
    listing the folder only as "not scanned". Now: a high ``file-unreadable`` finding naming it,
    exit 1, as the unprivileged uid 65532."""
    closed = shared_dir / "closed"
    closed.mkdir()
    (closed / "model.pkl").write_bytes(EVIL_PICKLE)
    closed.chmod(0o700)
    assert run_cli("scan", "--format", "json", str(closed)).exit_code == 1  # warm imports as root
    code, out, err = _as_uid(65532, "scan", "--format", "json", str(closed))
    assert code == 1, err
    report = json.loads(out)
    unreadable = _rules(report)["file-unreadable"]
    assert unreadable[0]["severity"] == "high"
    assert "could not be listed" in unreadable[0]["message"]


def test_unlistable_subfolder_is_a_finding_naming_it(shared_dir: Path) -> None:
    """UX audit top-10 #2 (and mlchain issue #15, item 1, for scanning): a mode-0311 subfolder
    (traversable, not listable) hid a pickle from ``scan`` as a non-root uid."""
    model = shared_dir / "m"
    (model / "hidden").mkdir(parents=True)
    (model / "config.json").write_text("{}")
    (model / "hidden" / "model.pkl").write_bytes(EVIL_PICKLE)
    assert run_cli("scan", "--format", "json", str(model)).exit_code == 1  # warm imports as root
    (model / "hidden").chmod(0o311)
    code, out, err = _as_uid(65532, "scan", "--format", "json", str(model))
    assert code == 1, err
    report = json.loads(out)
    unreadable = _rules(report)["file-unreadable"]
    assert [f["location"]["path"] for f in unreadable] == ["hidden"]
    assert "hidden" in unreadable[0]["message"]


def test_tree_deeper_than_the_recursion_limit_is_walked(tmp_path: Path) -> None:
    """UX audit top-10 #2 / mlchain issue #15, item 9: the recursive walker raised
    ``RecursionError`` on a tree deeper than Python's recursion limit; the explicit stack walks
    it and finds the file at the bottom. (The limit is lowered to keep the tree small.)"""
    import inspect
    import sys

    from mlchain.scan.walk import walk

    depth = 300
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        for _ in range(depth):  # by descriptor: no path grows with the depth
            os.mkdir("d", dir_fd=fd)
            inner = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
        handle = os.open("model.pkl", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(handle, EVIL_PICKLE)
        os.close(handle)
    finally:
        os.close(fd)
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack(0)) + depth // 2)  # a recursive walk cannot finish
    try:
        entries = list(walk(tmp_path, []))
    finally:
        sys.setrecursionlimit(previous)
    assert [str(e.rel) for e in entries] == ["d/" * depth + "model.pkl"]
    _rmtree_deep(tmp_path)


def test_tree_deeper_than_path_max_is_a_finding_not_a_crash(tmp_path: Path) -> None:
    """mlchain issue #15, item 9 (for scanning): a folder deeper than ``PATH_MAX`` ended as an
    internal error; now it is a ``file-unreadable`` finding (the walk fails closed, exit 1)."""
    name = "x" * 200
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        for _ in range(25):  # 25 * 201 bytes > PATH_MAX (4096)
            os.mkdir(name, dir_fd=fd)
            inner = os.open(name, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
        handle = os.open("model.pkl", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(handle, EVIL_PICKLE)
        os.close(handle)
    finally:
        os.close(fd)
    code, report = _json_scan(str(tmp_path))
    assert code == 1
    unreadable = _rules(report)["file-unreadable"]
    assert any("nested too deeply" in f["message"] for f in unreadable), unreadable
    _rmtree_deep(tmp_path)


def _rmtree_deep(top: Path) -> None:
    """Remove a tree too deep for path-based removal, by descriptor."""
    fd = os.open(top, os.O_RDONLY)
    chain = [fd]
    while True:  # go down to the bottom
        dirs = [n for n in os.listdir(chain[-1]) if _is_dir(chain[-1], n)]
        if not dirs:
            break
        chain.append(os.open(dirs[0], os.O_RDONLY, dir_fd=chain[-1]))
    while len(chain) > 1:  # and back up, emptying each folder
        bottom = chain.pop()
        for name in os.listdir(bottom):
            os.unlink(name, dir_fd=bottom)
        os.close(bottom)
        for name in os.listdir(chain[-1]):
            if _is_dir(chain[-1], name):
                os.rmdir(name, dir_fd=chain[-1])
    os.close(chain[0])


def _is_dir(dir_fd: int, name: str) -> bool:
    import stat

    return stat.S_ISDIR(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)


# -- 2. name-detected formats get the pickle check (mlchain issue #13, class 2) ---------------

_PROTO4_NO_PROTO = b"\x8c\x02os\x8c\x06system\x93\x8c\x0aecho pwned\x85R."
"""Protocol 4 opcodes with no PROTO/FRAME: the loader accepts any opcode first."""
_BROKEN_AFTER_CALL = EVIL_PICKLE[:-1] + b"\xff"
"""No STOP: the loader has run ``os.system`` before it fails on the bad opcode (nullifAI)."""
_NAMED = (
    "modeling_evil.py",
    "chat_template.jinja",
    "config.json",
    "preprocessor_config.json",
    "tokenizer_config.json",
    "chat_template.json",
    "model.safetensors.index.json",
)


@pytest.mark.parametrize("name", _NAMED)
@pytest.mark.parametrize(
    "payload",
    [EVIL_PICKLE, _PROTO4_NO_PROTO, _BROKEN_AFTER_CALL],
    ids=["protocol0", "protocol4-no-proto", "broken-after-call"],
)
def test_name_detected_polyglot_pickle_reaches_the_vm(
    tmp_path: Path, name: str, payload: bytes
) -> None:
    """mlchain issue #13, class 2 (reported by helper "arch"): a pickle named like a format
    that names decide (Python, Jinja, an HF/tokenizer config, a safetensors index) was scanned
    only as that format; ``pickle.load``/``torch.load`` of the same file runs the pickle."""
    (tmp_path / name).write_bytes(payload)
    code, report = _json_scan(str(tmp_path / name))
    assert code == 1
    calls = _rules(report).get("pickle-dangerous-call", [])
    assert calls and calls[0]["severity"] == "critical", report
    assert report["results"][0]["format"] != "pickle"  # still scanned as its name says too


@pytest.mark.parametrize("name", _NAMED)
def test_name_detected_file_that_is_no_pickle_gets_no_pickle_finding(
    tmp_path: Path, name: str
) -> None:
    """The pickle check of name-detected formats stays quiet on their ordinary content (a
    Python module starting with ``import``/``class`` begins with an opcode byte)."""
    text = {
        ".py": "import os\nclass A:\n    pass\n",
        ".jinja": "{% for m in messages %}{{ m['content'] }}{% endfor %}",
        ".json": '{"model_type": "bert"}',
    }[Path(name).suffix]
    (tmp_path / name).write_text(text)
    report = _json_scan(str(tmp_path / name))[1]
    assert not [r for r in _rules(report) if r.startswith("pickle")], report


# -- 3. UTF-16 YAML is YAML to PyYAML (mlchain issue #13, class 9) ----------------------------

_YAML_PAYLOAD = "model: x\nrun: !!python/object/apply:os.system ['echo pwned']\n"


def _pyyaml_tags(data: bytes) -> list[str]:
    """The tags PyYAML's own reader and scanner find in ``data`` (builds no object)."""
    import yaml

    return [
        t.value[1] for t in yaml.scan(data, Loader=yaml.SafeLoader) if isinstance(t, yaml.TagToken)
    ]


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("name", ["config.yaml", "hparams.yml", "MLmodel"])
def test_utf16_yaml_python_tag_is_found(tmp_path: Path, codec: str, name: str) -> None:
    """mlchain issue #13, class 9: a YAML file in UTF-16 with a byte-order mark was treated as
    binary (NUL bytes) and listed as "not scanned", yet ``yaml.load(open(f, "rb"))`` decodes it
    by its mark and constructs the python tag."""
    data = codecs_bom(codec) + _YAML_PAYLOAD.encode(codec)
    assert "python/object/apply:os.system" in _pyyaml_tags(data)  # PyYAML reads it as YAML
    (tmp_path / name).write_bytes(data)
    code, report = _json_scan(str(tmp_path / name))
    assert code == 1
    tags = _rules(report)["yaml-python-tag"]
    assert tags[0]["severity"] == "critical"
    # The offset is the tag's byte offset in the UTF-16 file.
    assert tags[0]["location"]["offset"] == len(codecs_bom(codec)) + len(
        _YAML_PAYLOAD[: _YAML_PAYLOAD.index("!!")].encode(codec)
    )


def test_large_utf16_yaml_python_tag_is_found(tmp_path: Path) -> None:
    """mlchain issue #13, class 9: UTF-16 YAML above the tokenizing limit gets the lexical
    check over its decoded text."""
    from mlchain.scan.yaml_tags import MAX_TOKENIZED_BYTES

    filler = "# padding\n" * (MAX_TOKENIZED_BYTES // 20 + 10)
    data = codecs_bom("utf-16-le") + (filler + _YAML_PAYLOAD).encode("utf-16-le")
    assert len(data) > MAX_TOKENIZED_BYTES
    (tmp_path / "big.yaml").write_bytes(data)
    code, report = _json_scan(str(tmp_path / "big.yaml"))
    assert code == 1
    assert _rules(report)["yaml-python-tag"][0]["severity"] == "critical"


def test_utf16_yaml_that_does_not_decode_fails_closed(tmp_path: Path) -> None:
    """mlchain issue #13, class 9: UTF-16 YAML PyYAML cannot decode (a lone surrogate) is a
    parse error, and its tags are still looked for lexically."""
    data = codecs_bom("utf-16-le") + _YAML_PAYLOAD.encode("utf-16-le") + b"\x00\xd8"
    (tmp_path / "broken.yaml").write_bytes(data)
    code, report = _json_scan(str(tmp_path / "broken.yaml"))
    assert code == 1
    rules = _rules(report)
    assert rules["yaml-python-tag"][0]["severity"] == "critical"
    assert "parse-error" in rules


def test_benign_utf16_yaml_is_clean_text(tmp_path: Path) -> None:
    """A UTF-16 YAML file without python tags is text: no finding, and no longer "not scanned"."""
    data = codecs_bom("utf-16-be") + "lr: 0.1\nlayers: [1, 2]\n".encode("utf-16-be")
    (tmp_path / "train.yaml").write_bytes(data)
    code, report = _json_scan(str(tmp_path / "train.yaml"))
    assert code == 0
    assert report["results"][0]["findings"] == []
    assert not report["results"][0].get("skipped")


def codecs_bom(codec: str) -> bytes:
    import codecs

    return codecs.BOM_UTF16_LE if codec == "utf-16-le" else codecs.BOM_UTF16_BE


# -- 4. links whose target depends on where the model is mounted (issue #15) -----------------


def _signing_model(tmp_path: Path) -> Path:
    model = tmp_path / "m"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"weights")
    (model / "config.json").write_text("{}")
    return model


def _sign(model: Path, tmp_path: Path, **kwargs: Any) -> Any:
    from mlchain.signing.sign import SigningMethod, sign_model
    from signing_helpers import write_key

    keys = write_key(tmp_path, "signer")
    return keys, sign_model(model, SigningMethod.key(keys.private), **kwargs)


def test_absolute_symlink_is_refused_at_signing_with_allow_symlinks(tmp_path: Path) -> None:
    """mlchain issue #15 / docs/security-model.md: an absolute link resolves in the mount
    namespace of whoever opens it (the verifier's check passes on its view; a server that mounts
    the model elsewhere reads other bytes). ``--allow-symlinks`` now refuses it, naming it,
    even when it points inside the model."""
    from mlchain.signing.manifest import SymlinkError

    model = _signing_model(tmp_path)
    (model / "alias.bin").symlink_to(model / "weights.bin")  # absolute, but inside
    with pytest.raises(SymlinkError, match=r"alias\.bin resolves through an absolute") as caught:
        _sign(model, tmp_path, allow_symlinks=True)
    assert caught.value.exit_code == 2


def test_absolute_symlink_is_refused_at_verification(tmp_path: Path) -> None:
    """mlchain issue #15: a relative link swapped for an absolute one to the same bytes after
    signing still hashes the same; verification with ``--allow-symlinks`` now fails, naming it."""
    from mlchain.signing.verify import VerificationMethod, verify_model

    model = _signing_model(tmp_path)
    (model / "alias.bin").symlink_to("weights.bin")
    keys, _ = _sign(model, tmp_path, allow_symlinks=True)
    method = VerificationMethod.key(keys.public)
    assert verify_model(model, method, allow_symlinks=True).verified
    (model / "alias.bin").unlink()
    (model / "alias.bin").symlink_to(model / "weights.bin")
    result = verify_model(model, method, allow_symlinks=True)
    assert not result.verified
    assert "alias.bin resolves through an absolute symbolic link" in result.errors[0]


def test_symlink_chain_through_an_absolute_link_is_refused(tmp_path: Path) -> None:
    """mlchain issue #15: a relative link whose path runs through an absolute one (a linked
    folder in an ignored part of the model) depends on the mount just the same."""
    from mlchain.signing.manifest import SymlinkError
    from mlchain.signing.tree import link_hazard

    model = _signing_model(tmp_path)
    (model / "cache").mkdir()
    (model / "cache" / "here").symlink_to(model, target_is_directory=True)
    (model / "alias.bin").symlink_to("cache/here/weights.bin")
    assert "absolute" in (link_hazard(model.resolve(), "alias.bin", model.resolve()) or "")
    with pytest.raises(SymlinkError, match=r"absolute"):
        _sign(model, tmp_path, allow_symlinks=True, ignore=[Path("cache")])


def test_relative_symlink_climbing_out_and_back_is_refused(tmp_path: Path) -> None:
    """mlchain issue #15: ``../m/weights.bin`` leaves the model folder and comes back by its
    name, which the verifier's copy need not have."""
    from mlchain.signing.manifest import SymlinkError

    model = _signing_model(tmp_path)
    (model / "alias.bin").symlink_to("../m/weights.bin")
    with pytest.raises(SymlinkError, match=r"climbs out of the model folder"):
        _sign(model, tmp_path, allow_symlinks=True)


def test_relative_symlinks_inside_the_model_stay_accepted(tmp_path: Path) -> None:
    """The rule keeps what ``--allow-symlinks`` is for: relative links inside the folder,
    including through sub-folders and ``..`` that stays inside."""
    model = _signing_model(tmp_path)
    (model / "sub").mkdir()
    (model / "sub" / "alias.bin").symlink_to("../weights.bin")
    (model / "alias.bin").symlink_to("sub/alias.bin")
    _, result = _sign(model, tmp_path, allow_symlinks=True)
    assert result.files["alias.bin"] == result.files["weights.bin"]


def test_hard_links_with_names_outside_the_model_are_detected(tmp_path: Path) -> None:
    """mlchain issue #15 / docs/security-model.md: a hard link is indistinguishable from its
    other names; what can be told is that a file has more names than the model holds."""
    from mlchain.signing.tree import list_model, shared_hard_links

    model = _signing_model(tmp_path)
    os.link(model / "weights.bin", tmp_path / "elsewhere.bin")  # a name outside the model
    os.link(model / "config.json", model / "config-copy.json")  # both names inside
    assert shared_hard_links(list_model(model)) == ["weights.bin"]
