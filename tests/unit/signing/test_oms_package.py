"""mlchain imports model-signing's modules without its package ``__init__`` (issue #19, item 7).

``mlchain.signing._oms`` registers the ``model_signing`` package unexecuted, so checking a key or
a certificate does not import sigstore's keyless client. These tests pin what that relies on
(the installed ``__init__`` binds nothing else) and that the package still reads as itself.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

from mlchain.signing import _oms
from signing_helpers import write_key


def _fresh(code: str) -> dict[str, object]:
    """Run ``code`` in a new interpreter; it prints one JSON object as its last line."""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    loaded: dict[str, object] = json.loads(result.stdout.splitlines()[-1])
    return loaded


def test_model_signing_init_binds_only_what_the_unexecuted_package_serves() -> None:
    spec = importlib.util.find_spec("model_signing")
    assert spec is not None and spec.origin is not None
    tree = ast.parse(Path(spec.origin).read_text("utf-8"))
    bound: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        if isinstance(node, ast.ImportFrom) and node.module == "model_signing" and node.level == 0:
            bound.update(alias.asname or alias.name for alias in node.names)
            assert all(alias.name in _oms.PACKAGE_MODULES for alias in node.names)
            continue
        assert isinstance(node, ast.Assign), (
            f"model_signing/__init__.py line {node.lineno} does more than import and assign: "
            "re-read mlchain.signing._oms._package before this model-signing upgrade"
        )
        assert isinstance(node.value, ast.Constant | ast.List)
        bound.update(t.id for t in node.targets if isinstance(t, ast.Name))
    assert bound == _oms.PACKAGE_NAMES


def test_key_verifier_imports_no_keyless_client_and_the_package_still_reads_whole() -> None:
    code = (
        "import json, sys\n"
        "from mlchain.signing import _oms\n"
        "_oms.sign_ec_key(); _oms.sign_sigstore_pb(); _oms.signing(); _oms.hashing_config()\n"
        "before = sorted(m for m in sys.modules if m == 'sigstore' or m.startswith('sigstore.')"
        " or m.endswith('sign_sigstore') or m.endswith('sign_certificate'))\n"
        "import model_signing\n"
        "from model_signing import verifying\n"
        "try:\n    model_signing.no_such_name\n    missing = False\n"
        "except AttributeError:\n    missing = True\n"
        "print(json.dumps({'before': before, 'version': model_signing.__version__,\n"
        "    'all': model_signing.__all__, 'config': model_signing.signing.Config.__name__,\n"
        "    'verifying': verifying.__name__, 'missing': missing,\n"
        "    'sigstore_after': 'model_signing._signing.sign_sigstore' in sys.modules}))\n"
    )
    seen = _fresh(code)
    assert seen["before"] == []
    assert seen["version"] == importlib.metadata.version("model-signing")
    assert seen["all"] == ["hashing", "signing", "verifying", "manifest"]
    assert seen["config"] == "Config"
    assert seen["verifying"] == "model_signing.verifying"
    assert seen["missing"] is True
    assert seen["sigstore_after"] is True  # reading model_signing.signing imported it, as upstream


def test_an_already_imported_package_is_left_as_it_is() -> None:
    code = (
        "import json, sys\nimport model_signing\n"
        "first = sys.modules['model_signing']\n"
        "from mlchain.signing import _oms\n_oms.sign_ec_key()\n"
        "print(json.dumps({'same': sys.modules['model_signing'] is first,"
        " 'getattr': '__getattr__' in vars(first)}))\n"
    )
    assert _fresh(code) == {"same": True, "getattr": False}


def test_sign_and_verify_with_a_key_import_no_sigstore(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"\x00" * 4096)
    keys = write_key(tmp_path)
    run = (
        "import json, sys\nfrom mlchain._entry import main\nsys.argv = ['mlchain', *sys.argv[1:]]\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\n"
        "print(json.dumps({'code': code, 'sigstore': sorted(m for m in sys.modules"
        " if m == 'sigstore' or m.startswith('sigstore.'))}))\n"
    )
    for args in (
        ["sign", str(model), "--key", str(keys.private)],
        ["verify", str(model), "--key", str(keys.public)],
    ):
        result = subprocess.run(
            [sys.executable, "-c", run, *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        seen = json.loads(result.stdout.splitlines()[-1])
        assert seen == {"code": 0, "sigstore": []}, result.stderr
