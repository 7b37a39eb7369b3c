"""The OpenBLAS directory handed to Hail's local JVM (``scripts/ensure_blas.sh``)."""

from __future__ import annotations

from bma_genetics import _hail


def test_native_library_dir_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("BMA_GENETICS_NATIVE_LIB", str(tmp_path))
    monkeypatch.setattr(_hail.sys, "prefix", str(tmp_path / "no-venv"))
    assert _hail.native_library_dir() is None  # no libblas.so.3 there yet
    (tmp_path / "libblas.so.3").write_bytes(b"")
    assert _hail.native_library_dir() == tmp_path


def test_use_native_blas_sets_library_path_once(tmp_path, monkeypatch):
    (tmp_path / "libblas.so.3").write_bytes(b"")
    monkeypatch.setenv("BMA_GENETICS_NATIVE_LIB", str(tmp_path))
    monkeypatch.setenv("LD_LIBRARY_PATH", "/opt/x")
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    assert _hail._use_native_blas() == tmp_path
    assert _hail._use_native_blas() == tmp_path
    assert _hail.os.environ["LD_LIBRARY_PATH"] == f"{tmp_path}:/opt/x"
    assert _hail.os.environ["OPENBLAS_NUM_THREADS"] == "1"


def test_no_native_blas_is_not_an_error(tmp_path, monkeypatch):
    monkeypatch.delenv("BMA_GENETICS_NATIVE_LIB", raising=False)
    monkeypatch.setattr(_hail.sys, "prefix", str(tmp_path))
    monkeypatch.setenv("LD_LIBRARY_PATH", "/opt/x")
    assert _hail._use_native_blas() is None
    assert _hail.os.environ["LD_LIBRARY_PATH"] == "/opt/x"
