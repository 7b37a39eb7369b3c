"""Pin OpenBLAS to one thread around small matrix work (PheWAS phecode blocks, PRS-CS, clumping).

The batched solves multiply small matrices (tens of columns by a few thousand rows); OpenBLAS's
own threads then cost more than they save, and nested with our thread pool they oversubscribe
the cores (measured on a busy 2-core machine: a 55 x 943 x 128 product took 12.7 ms with
OpenBLAS threading and 1.0 ms without). Parallelism comes from the phecode blocks instead.
PRS-CS's Gibbs sampler (a Cholesky factor and two triangular solves of a <= 500-variant block per
block and iteration) is the extreme case: 30 blocks x 60 iterations took 182.7 s with two OpenBLAS
threads on the loaded 2-core machine and 4.4 s with one (same numbers to 5e-15).
This is what ``threadpoolctl`` does, kept to the OpenBLAS builds numpy/scipy ship.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
from collections.abc import Iterator

log = logging.getLogger(__name__)

_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
            "openblas_set_num_threads64_", "openblas_set_num_threads")
_GETTERS = ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads",
            "openblas_get_num_threads64_", "openblas_get_num_threads")


def _openblas_handles() -> list[tuple]:
    try:
        with open("/proc/self/maps") as fh:
            paths = sorted({line.split()[-1] for line in fh if "openblas" in line.lower() and "/" in line})
    except OSError:  # not Linux: leave BLAS as it is
        return []
    handles = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        setter = next((getattr(lib, n) for n in _SETTERS if hasattr(lib, n)), None)
        getter = next((getattr(lib, n) for n in _GETTERS if hasattr(lib, n)), None)
        if setter is not None and getter is not None:
            handles.append((setter, getter))
    return handles


@contextlib.contextmanager
def blas_threads(n: int = 1) -> Iterator[None]:
    """Set OpenBLAS's thread count to ``n`` inside the block, then restore it."""
    handles = _openblas_handles()
    before = []
    for setter, getter in handles:
        try:
            before.append(int(getter()))
            setter(ctypes.c_int(n))
        except Exception:  # noqa: BLE001 - an unknown build: leave it alone
            before.append(None)
    try:
        yield
    finally:
        for (setter, _), old in zip(handles, before, strict=True):
            if old is not None:
                setter(ctypes.c_int(old))
