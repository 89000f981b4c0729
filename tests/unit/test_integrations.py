"""Shipped integrations: Kubernetes manifests, Containerfile, GitHub Action, pre-commit hook."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from mlchain.cli import app
from mlchain.policy import load_policy

REPO = Path(__file__).resolve().parents[2]
BASE = REPO / "deploy" / "kubernetes" / "base"
KSERVE = REPO / "deploy" / "kubernetes" / "kserve"
SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def load_all(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def _deployment() -> dict[str, Any]:
    (doc,) = load_all(BASE / "deployment.yaml")
    assert doc["kind"] == "Deployment"
    return doc


def _pod() -> dict[str, Any]:
    return _deployment()["spec"]["template"]["spec"]


def _containers() -> list[dict[str, Any]]:
    pod = _pod()
    return [*pod["initContainers"], *pod["containers"]]


def _kustomization() -> dict[str, Any]:
    return yaml.safe_load((BASE / "kustomization.yaml").read_text())


def _init() -> dict[str, Any]:
    (init,) = [c for c in _pod()["initContainers"] if c["name"] == "mlchain-verify"]
    return init


def _server() -> dict[str, Any]:
    (server,) = _pod()["containers"]
    return server


def _scan_command() -> Any:
    group: Any = typer.main.get_command(app)
    return group.get_command(None, "scan")


# --- Kubernetes ------------------------------------------------------------------------------


def test_every_manifest_parses() -> None:
    files = sorted((REPO / "deploy").rglob("*.yaml"))
    assert len(files) >= 5
    for path in files:
        for doc in load_all(path):
            assert isinstance(doc, dict)
            assert "kind" in doc or "resources" in doc or "apiVersion" in doc, path


def test_kustomization_resources_exist() -> None:
    kust = _kustomization()
    for name in kust["resources"]:
        assert (BASE / name).is_file(), name
    for generator in kust["configMapGenerator"]:
        for name in generator["files"]:
            assert (BASE / name).is_file(), name


def test_volume_names_used_are_defined_and_all_used() -> None:
    defined = {v["name"] for v in _pod()["volumes"]}
    used = {m["name"] for c in _containers() for m in c.get("volumeMounts", [])}
    assert used == defined


def test_configmap_name_matches_generator_and_holds_a_valid_policy() -> None:
    (generator,) = _kustomization()["configMapGenerator"]
    (volume,) = [v for v in _pod()["volumes"] if "configMap" in v]
    assert volume["configMap"]["name"] == generator["name"]
    policy = load_policy(BASE / generator["files"][0])
    assert policy.authorities


def _mount(container: dict[str, Any], volume: str) -> dict[str, Any]:
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume]
    return mount


def test_init_container_args_match_mount_paths() -> None:
    init = _init()
    args = init["args"]
    assert args[0] == "verify"
    model_path = args[1]
    policy_path = args[args.index("--policy") + 1]
    (policy_volume,) = [v["name"] for v in _pod()["volumes"] if "configMap" in v]
    (generator,) = _kustomization()["configMapGenerator"]
    policy_mount = _mount(init, policy_volume)
    assert policy_path == f"{policy_mount['mountPath']}/{generator['files'][0]}"
    model_mount = _mount(init, "models")
    assert model_path.startswith(model_mount["mountPath"].rstrip("/") + "/")
    assert model_mount["readOnly"] is True
    assert policy_mount["readOnly"] is True


def test_model_server_serves_the_verified_private_copy_read_only() -> None:
    """The server reads the copy `verify --copy-to` published, never the shared volume
    (mlchain issue #15, item 5: a read-only mount binds only this pod)."""
    server, init = _server(), _init()
    args = server["args"]
    copy_to = init["args"][init["args"].index("--copy-to") + 1]
    assert args[args.index("--model") + 1] == copy_to
    assert not [m for m in server["volumeMounts"] if m["name"] == "models"]
    verified = _mount(server, "verified")
    assert verified["readOnly"] is True
    assert _mount(init, "verified")["mountPath"] == verified["mountPath"]
    assert copy_to.startswith(verified["mountPath"].rstrip("/") + "/")
    (volume,) = [v for v in _pod()["volumes"] if v["name"] == "verified"]
    assert "emptyDir" in volume  # pod-private
    (models,) = [v for v in _pod()["volumes"] if v["name"] == "models"]
    assert models["persistentVolumeClaim"]["readOnly"] is True


def test_images_match_kustomize_images() -> None:
    names = {i["name"] for i in _kustomization()["images"]}
    tags = {i["name"]: i["newTag"] for i in _kustomization()["images"]}
    for container in _containers():
        name, _, tag = container["image"].rpartition(":")
        assert name in names, container["image"]
        assert tags[name] == tag


def test_pod_and_containers_are_non_root_and_read_only() -> None:
    pod = _pod()
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["automountServiceAccountToken"] is False
    for container in _containers():
        ctx = container["securityContext"]
        assert ctx["runAsNonRoot"] is True, container["name"]
        assert ctx["readOnlyRootFilesystem"] is True, container["name"]
        assert ctx["allowPrivilegeEscalation"] is False, container["name"]
        assert ctx["capabilities"]["drop"] == ["ALL"], container["name"]


def test_init_container_home_and_cache_are_on_a_writable_volume() -> None:
    init = _init()
    env = {e["name"]: e["value"] for e in init["env"]}
    writable = {
        _mount(init, v["name"])["mountPath"]
        for v in _pod()["volumes"]
        if "emptyDir" in v and any(m["name"] == v["name"] for m in init["volumeMounts"])
    }
    for var in ("HOME", "XDG_CACHE_HOME"):
        assert any(env[var].startswith(w.rstrip("/") + "/") for w in writable), var


def test_kserve_storage_container_and_entrypoint() -> None:
    (doc,) = load_all(KSERVE / "cluster-storage-container.yaml")
    assert doc["kind"] == "ClusterStorageContainer"
    assert doc["apiVersion"] == "serving.kserve.io/v1alpha1"
    container = doc["spec"]["container"]
    assert container["name"] == "storage-initializer"
    assert container["securityContext"]["runAsNonRoot"] is True
    assert doc["spec"]["supportedUriFormats"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["HOME"].startswith("/tmp/")
    script = (KSERVE / "verify-after-download.sh").read_text()
    assert 'mlchain verify "$2" --policy' in script
    assert "set -eu" in script
    containerfile = (KSERVE / "Containerfile").read_text()
    assert env["MLCHAIN_POLICY"] in containerfile
    assert "verify-after-download.sh" in containerfile
    assert re.search(r"^USER (?!root|0\b)", containerfile, re.MULTILINE)


# --- Containerfile ---------------------------------------------------------------------------


def _instructions(path: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def test_containerfile_runs_non_root_with_home_in_tmp() -> None:
    instructions = _instructions(REPO / "Containerfile")
    final = instructions[max(i for i, (k, _) in enumerate(instructions) if k == "FROM") :]
    users = [v for k, v in final if k == "USER"]
    assert users
    uid = users[-1].split(":")[0]
    assert uid.isdigit()
    assert int(uid) != 0
    env = " ".join(v for k, v in final if k == "ENV")
    assert "HOME=/tmp/" in env
    assert "XDG_CACHE_HOME=/tmp/" in env
    assert ("ENTRYPOINT", '["mlchain"]') in final
    assert _pod()["securityContext"]["runAsUser"] == int(uid)


# --- GitHub Action ---------------------------------------------------------------------------


def _action() -> dict[str, Any]:
    return yaml.safe_load((REPO / "action.yml").read_text())


def test_action_is_composite_and_inputs_go_through_env() -> None:
    action = _action()
    assert action["runs"]["using"] == "composite"
    steps = action["runs"]["steps"]
    referenced: set[str] = set()
    for step in steps:
        if "run" in step:
            assert "${{" not in step["run"], step.get("name")
            assert step["shell"] == "bash"
            for value in step.get("env", {}).values():
                referenced |= set(re.findall(r"inputs\.([\w-]+)", str(value)))
        if "uses" in step:
            assert SHA_PIN.match(step["uses"]), step["uses"]
            for value in step.get("with", {}).values():
                referenced |= set(re.findall(r"inputs\.([\w-]+)", str(value)))
        # an `if:` is an expression GitHub evaluates, never shell text
        referenced |= set(re.findall(r"inputs\.([\w-]+)", str(step.get("if", ""))))
    assert referenced == set(action["inputs"])


def test_action_scan_command_uses_real_options() -> None:
    (scan_step,) = [s for s in _action()["runs"]["steps"] if s.get("id") == "scan"]
    line = next(ln for ln in scan_step["run"].splitlines() if ln.strip().startswith("mlchain scan"))
    words = shlex.split(line)
    options = {opt for p in _scan_command().params for opt in p.opts}
    for word in words[2:]:
        if word.startswith("--") and word != "--":
            assert word in options, word
    assert "--sarif-output" in words
    assert (REPO / "src/mlchain/output/sarif.py").is_file()


def test_action_fail_on_default_is_a_valid_choice() -> None:
    from mlchain.cli.scan import SeverityChoice

    assert _action()["inputs"]["fail-on"]["default"] in {c.value for c in SeverityChoice}


def test_docs_workflows_pin_actions_by_sha_and_use_oidc_for_signing() -> None:
    text = (REPO / "docs" / "integrations.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)
    workflows = [yaml.safe_load(b) for b in blocks if b.lstrip().startswith("# .github/workflows")]
    assert len(workflows) == 2
    for workflow in workflows:
        for job in workflow["jobs"].values():
            for step in job["steps"]:
                if "uses" in step and not step["uses"].startswith("mlchain-dev/"):
                    assert SHA_PIN.match(step["uses"]), step["uses"]
                if "run" in step:
                    assert "${{" not in step["run"]
    sign = workflows[1]["jobs"]["sign"]
    assert sign["permissions"]["id-token"] == "write"


# --- pre-commit ------------------------------------------------------------------------------


def test_pre_commit_hook() -> None:
    (hook,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "mlchain-scan"
    assert hook["entry"].split() == ["mlchain", "scan"]
    assert hook["language"] == "python"
    files = re.compile(hook["files"])
    for name in ["m.safetensors", "a/b/model.PT", "w.pkl", "x.gguf", "y.onnx", "z.npy", "j.joblib"]:
        assert files.search(name), name
    for name in ["README.md", "config.json", "train.py", "safetensors.txt"]:
        assert not files.search(name), name
    options = {opt for p in _scan_command().params for opt in p.opts}
    assert all(a in options for a in hook["args"] if a.startswith("-"))


@pytest.mark.parametrize("path", ["action.yml", ".pre-commit-hooks.yaml", "Containerfile"])
def test_installs_use_the_default_index_only(path: str) -> None:
    text = (REPO / path).read_text().lower()
    assert "index-url" not in text
    assert "--trusted-host" not in text


def test_kustomize_build_renders_consistent_names() -> None:
    """Render with the real kustomize (bundled in kubectl) when it is installed; offline."""
    import shutil
    import subprocess

    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    out = subprocess.run(
        [kubectl, "kustomize", str(BASE)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    docs = {d["kind"]: d for d in yaml.safe_load_all(out)}
    configmap = docs["ConfigMap"]
    assert configmap["metadata"]["name"].startswith("mlchain-policy-")
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if "configMap" in v]
    assert volume["configMap"]["name"] == configmap["metadata"]["name"]
    assert set(configmap["data"]) == {"policy.yaml"}
