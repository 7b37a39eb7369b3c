"""Argument checks at the public boundary (the Hail/scikit-learn habit, kept small).

Every check raises :class:`~bma_genetics.errors.InputError` with ``"function/param: ..."``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bma_genetics.errors import InputError


def fail(where: str, message: str) -> InputError:
    """Build an InputError prefixed with ``where`` (``"function/param"``)."""
    return InputError(f"{where}: {message}")


def check_one_of(where: str, value: Any, allowed: Iterable[Any]) -> Any:
    allowed = list(allowed)
    if value not in allowed:
        raise fail(where, f"expected one of {allowed}, found {value!r}")
    return value


def check_positive(where: str, value: float, *, allow_zero: bool = False) -> float:
    ok = value >= 0 if allow_zero else value > 0
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise fail(where, f"expected a number {bound}, found {value!r}")
    return value


def check_probability(where: str, value: float, *, open_interval: bool = True) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise fail(where, f"expected a probability, found {value!r}")
    ok = 0 < value < 1 if open_interval else 0 <= value <= 1
    if not ok:
        raise fail(where, f"expected a value in {'(0, 1)' if open_interval else '[0, 1]'}, found {value!r}")
    return value


def check_columns(where: str, frame: Any, columns: Iterable[str], *, source: str = "table") -> None:
    """Require ``columns`` in a DataFrame, naming the missing ones and the source file."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise fail(where, f"{source} lacks column(s) {missing}; it has {list(frame.columns)[:20]}")


def show_value(value: Any) -> str:
    """A cell as a message shows it: numbers plainly (``250``, ``-0.02``), text quoted (``'sixty'``)."""
    import numbers

    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return f"{float(value):g}"
    return repr(value)
