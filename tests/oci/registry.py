"""A real OCI registry on loopback for the tests: Debian's ``docker-registry`` package.

That package is the CNCF distribution registry (v2.8 in Debian 12). It has no OCI 1.1 referrers
API, so mlchain uses the ``sha256-<digest>`` tag-schema fallback against it; :mod:`oci.proxy`
adds a referrers API in front of it to exercise the other path. Nothing here talks to any host
but 127.0.0.1.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REGISTRY_BINARY = "docker-registry"


@dataclass
class Registry:
    """A running registry: ``host`` is ``127.0.0.1:PORT``; ``users`` the htpasswd logins."""

    host: str
    process: subprocess.Popen[bytes]
    root: Path
    users: dict[str, str]
    access_log: Path

    def stop(self) -> None:
        """Stop the registry process (only this one, by its own handle)."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def registry_binary() -> str | None:
    """The registry executable, or ``None`` when the package is not installed."""
    return shutil.which(REGISTRY_BINARY) or (
        "/usr/bin/docker-registry" if Path("/usr/bin/docker-registry").exists() else None
    )


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _htpasswd(users: dict[str, str]) -> str:
    import bcrypt

    return "".join(
        f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()}\n"
        for user, password in users.items()
    )


def start_registry(root: Path, *, users: dict[str, str] | None = None) -> Registry:
    """Start a registry storing under ``root`` on a free loopback port; wait until it answers.

    Raises:
        RuntimeError: the binary is missing or the registry did not come up.
    """
    binary = registry_binary()
    if binary is None:
        raise RuntimeError("docker-registry is not installed")
    users = dict(users or {})
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    host = f"127.0.0.1:{port}"
    auth = ""
    if users:
        htpasswd = root / "htpasswd"
        htpasswd.write_text(_htpasswd(users))
        auth = f"auth:\n  htpasswd:\n    realm: mlchain-tests\n    path: {htpasswd}\n"
    access_log = root / "registry.log"
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: info\n  formatter: json\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
        "  delete:\n    enabled: true\n"
        f"http:\n  addr: {host}\n  secret: mlchain-tests-only\n"
        f"{auth}"
    )
    log = access_log.open("wb")
    process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    log.close()
    registry = Registry(host, process, root, users, access_log)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"docker-registry exited: {access_log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(f"http://{host}/v2/", timeout=1).close()
            return registry
        except urllib.error.HTTPError as exc:
            if exc.code == 401:  # up, and asking for credentials
                return registry
        except OSError:
            pass
        time.sleep(0.05)
    registry.stop()
    raise RuntimeError("docker-registry did not answer within 15 s")
