"""Developer and CI sessions. `nox -s tests` is what CI runs (see .ci/run)."""

from __future__ import annotations

import os
import shutil
import subprocess

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = ["3.11"]


@nox.session(python=False)
def tests(session: nox.Session) -> None:
    """Install mlchain with its test extras into a fresh venv and run the whole suite."""
    _install_registry(session)
    venv = ".nox/tests-venv"
    session.run("python", "-m", "venv", venv, external=True)
    py = f"{venv}/bin/python"
    session.run(py, "-m", "pip", "install", "--quiet", "--upgrade", "pip", external=True)
    session.run(py, "-m", "pip", "install", "--quiet", "-e", ".[test]", external=True)
    session.run(
        py,
        "-m",
        "pytest",
        "--cov=mlchain",
        "--cov-report=term:skip-covered",
        *session.posargs,
        external=True,
    )


def _install_registry(session: nox.Session) -> None:
    """Install Debian's docker-registry (the CNCF distribution registry) for tests/oci.

    Only as root on a Debian-like machine and only when missing; when it cannot be installed the
    OCI tests skip and say why.
    """
    if shutil.which("docker-registry") or not shutil.which("apt-get") or os.geteuid() != 0:
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "docker-registry"],
    ):
        done = subprocess.run(  # noqa: S603 - fixed apt-get commands
            command, env=env, check=False, capture_output=True, text=True
        )
        if done.returncode != 0:
            session.warn(f"{' '.join(command)} failed; the OCI registry tests will skip")
            return


@nox.session
def lint(session: nox.Session) -> None:
    """ruff format --check and ruff check."""
    session.install("ruff>=0.6")
    session.run("ruff", "format", "--check", ".")
    session.run("ruff", "check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on src/."""
    session.install("-e", ".[typecheck]")
    session.run("mypy", "--strict", "src/mlchain")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks against the peers (not part of tests or CI): writes benchmarks/RESULTS.md."""
    session.install(".", "torch==2.13.0", "numpy", "picklescan", "modelscan", "modelaudit")
    session.run(
        "python", "benchmarks/run.py", "--results", "benchmarks/RESULTS.md", *session.posargs
    )


@nox.session(python=PYTHON)
def fuzz(session: nox.Session) -> None:
    """Coverage-guided fuzzing with atheris, not part of tests or CI: `nox -s fuzz -- --seconds 60`.

    Extra arguments go to fuzz/run.py (--seconds, --jobs, --only, --max-len, --logs); crashes
    land in fuzz/crashes/<target>/.
    """
    session.install("-e", ".", "atheris")
    session.run("python", "-m", "fuzz.run", *session.posargs)


@nox.session(python=PYTHON)
def formats(session: nox.Session) -> None:
    """Rebuild the real-library fixtures (TensorFlow, Keras, torch, skops...) and print the table.

    Not part of tests or CI: the libraries are heavy, so their small outputs are committed.
    """
    session.install(
        ".", "torch==2.13.0", "tensorflow-cpu", "tf_keras", "keras", "h5py", "skops",
        "scikit-learn", "xgboost", "lightgbm", "catboost", "sentencepiece", "msgpack",
    )  # fmt: skip
    for area in ("torchscript", "savedmodel", "hdf5", "tflite", "skops", "mldata"):
        session.run("python", "fixtures/generate.py", area)
    session.run("python", "fixtures/formats_table.py")


@nox.session(python=False)
def realworld(session: nox.Session) -> None:
    """Real-world corpus (not part of tests or CI): writes docs/realworld.md.

    Builds artifacts with the real libraries (torch 2.13.0 CPU, transformers 4 and 5, Keras,
    TensorFlow, ...) in three environments under .nox/realworld-envs (pip only; models are built
    from configs, nothing is downloaded) and scans each with mlchain. Extra arguments go to
    benchmarks/realworld.py (e.g. `-- --python tf=/path/to/python` to reuse an environment).
    """
    venv = ".nox/realworld-venv"
    session.run("python", "-m", "venv", venv, external=True)
    py = f"{venv}/bin/python"
    session.run(py, "-m", "pip", "install", "--quiet", "-e", ".", external=True)
    session.run(
        py,
        "benchmarks/realworld.py",
        "--envs",
        ".nox/realworld-envs",
        "--work",
        ".nox/realworld-corpus",
        "--results",
        "docs/realworld.md",
        *session.posargs,
        external=True,
    )
