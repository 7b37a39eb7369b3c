"""Declared parameters: one declaration per option gives the config check, the CLI and the docs.

Each stage lists its options once, at the top of its ``stage.py``::

    PARAMS = [
        Param("transform", str, "none", "trait transform", options=("none", "rint")),
        Param("block_size", int, 128, "variants per regression block", range=(1, None)),
        Param("qc", dict, help="variant QC", section=[Param("min_info", float, 0.8, "...", range=(0, 1))]),
    ]

:func:`check_params` checks a user's mapping against such a list (the scikit-learn
``_parameter_constraints`` / Hail ``@typecheck`` habit): unknown keys fail naming the closest
valid key, bad values fail naming the key, the value and what is allowed, and the defaults are
filled in. The study runner checks every section of a config this way before any work; the CLI
options that mirror a stage option take their default and help from the same declaration
(:func:`cli_option`), and ``docs/parameters.md`` is generated from it (:func:`markdown_table`).
"""

from __future__ import annotations

import copy
import difflib
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bma_genetics.errors import InputError

__all__ = [
    "Param",
    "check_params",
    "cli_option",
    "closest",
    "defaults",
    "get_param",
    "keyword_or_path",
    "markdown_table",
    "unknown_key_message",
]

_CLOSED = ("both", "left", "right", "neither")
_TYPE_NAMES = {int: "int", float: "float", str: "str", bool: "bool", list: "list", dict: "mapping", Path: "path"}


@dataclass(frozen=True)
class Param:
    """One declared option.

    Parameters
    ----------
    name : str
        The key in the config section (and, with ``-`` for ``_``, the CLI flag).
    type : type or tuple of types
        Allowed Python type(s): ``int``, ``float`` (ints accepted; YAML's ``5e-8``, read as a
        string, is accepted too), ``str``, ``bool``, ``list``, ``dict`` or ``Path`` (a
        string path). A tuple allows several, e.g. ``(list, str)`` for ``[a, b]`` or ``"all"``.
    default : any, default=None
        The value used when the key is absent (copied, so a mutable default is safe).
    help : str, default=""
        One line for the docs table and the CLI ``--help``.
    options : sequence, optional
        Allowed values of a scalar (a list value's items are not checked against it).
    range : tuple, optional
        ``(lo, hi)`` or ``(lo, hi, closed)`` for numbers; ``None`` for an open end; ``closed`` is
        ``"both"`` (default), ``"left"``, ``"right"`` or ``"neither"``.
    nullable : bool, default=False
        Whether ``null`` is allowed (always allowed when the default is ``None``).
    item_type : type or tuple of types, optional
        Type of each item of a list value.
    section : sequence of Param, optional
        Nested options of a mapping-valued key (e.g. gwas ``qc:``); checked and filled the same
        way, errors named ``stage.key.subkey``.
    check : callable, optional
        A further check of a value that passed the others: returns ``None`` when the value is
        fine, else what is allowed (e.g. :func:`keyword_or_path`).
    allowed : str, optional
        What is allowed, in words (the whole text of docs and messages), when the rules above
        do not say it.
    """

    name: str
    type: type | tuple[type, ...]
    default: Any = None
    help: str = ""
    options: Sequence[Any] | None = None
    range: tuple[Any, ...] | None = None
    nullable: bool = False
    item_type: type | tuple[type, ...] | None = None
    section: Sequence[Param] | None = field(default=None)
    check: Callable[[Any], str | None] | None = field(default=None, compare=False)
    allowed: str | None = None

    def __post_init__(self) -> None:
        if self.range is not None:
            if len(self.range) not in (2, 3) or (len(self.range) == 3 and self.range[2] not in _CLOSED):
                raise ValueError(f"Param {self.name}: range must be (lo, hi) or (lo, hi, closed in {_CLOSED})")
        if self.section is not None and dict not in self.types:
            raise ValueError(f"Param {self.name}: a section needs type dict")

    @property
    def types(self) -> tuple[type, ...]:
        return self.type if isinstance(self.type, tuple) else (self.type,)

    @property
    def allows_none(self) -> bool:
        return self.nullable or (self.default is None and self.section is None)

    def describe(self) -> str:
        """What is allowed, in words: ``"a number in [0, 1]"``, ``"one of 'none', 'rint'"``."""
        if self.allowed is not None:
            return self.allowed
        parts = []
        if self.options is not None:
            parts.append("one of " + ", ".join(repr(o) for o in self.options))
            if list in self.types:
                parts.append("a list" + (f" of {_type_words(self.item_type, True)}" if self.item_type else ""))
        elif self.section is not None:
            parts.append("a mapping with keys " + ", ".join(p.name for p in self.section))
        else:
            words = []
            for t in self.types:
                w = _type_words(t)
                if t is list and self.item_type is not None:
                    w += f" of {_type_words(self.item_type, True)}"
                words.append(w)
            text = " or ".join(words)
            if self.range is not None:
                text += f" in {_range_text(self.range)}"
            parts.append(text)
        if self.allows_none:
            parts.append("null")
        return " or ".join(parts)


def _type_words(t: type | tuple[type, ...] | None, plural: bool = False) -> str:
    if isinstance(t, tuple):
        return " or ".join(_type_words(x, plural) for x in t)
    if plural:
        return {int: "integers", float: "numbers", str: "strings", bool: "true/false", list: "lists",
                dict: "mappings", Path: "paths"}.get(t, getattr(t, "__name__", str(t)))
    return {int: "an integer", float: "a number", str: "a string", bool: "true/false", list: "a list",
            dict: "a mapping", Path: "a path"}.get(t, getattr(t, "__name__", str(t)))


def _range_text(rng: tuple[Any, ...]) -> str:
    lo, hi = rng[0], rng[1]
    closed = rng[2] if len(rng) == 3 else "both"
    left = "[" if closed in ("both", "left") and lo is not None else "("
    right = "]" if closed in ("both", "right") and hi is not None else ")"
    return f"{left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{right}"


def closest(key: str, valid: Sequence[str]) -> str | None:
    """The valid key nearest to ``key`` (difflib), or ``None`` when none is close."""
    hits = difflib.get_close_matches(str(key), list(valid), n=1, cutoff=0.6)
    return hits[0] if hits else None


def unknown_key_message(where: str, key: Any, valid: Sequence[str], what: str = "key") -> str:
    """``"gwas: unknown key 'transfrom'; did you mean 'transform'?"`` (or the valid keys)."""
    near = closest(str(key), valid)
    hint = f"did you mean {near!r}?" if near else "valid: " + ", ".join(sorted(valid))
    return f"{where}: unknown {what} {key!r}; {hint}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _coerce_one(value: Any, t: type) -> tuple[bool, Any]:
    """(ok, value) for one allowed type; numbers written ``5e-8`` (a YAML 1.1 string) become floats."""
    if t is bool:
        return isinstance(value, bool), value
    if t is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if t is float:
        if _is_number(value):
            return True, value  # an int stays an int: the API gets what the user wrote
        if isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                return False, value
            return not math.isnan(number), number
        return False, value
    if t is Path:
        return isinstance(value, (str, os.PathLike)), value
    if t is list:
        return isinstance(value, (list, tuple)), list(value) if isinstance(value, (list, tuple)) else value
    if t is dict:
        return isinstance(value, Mapping), value
    return isinstance(value, t), value


def _bad(where: str, value: Any, allowed: str) -> InputError:
    return InputError(f"{where}: {value!r} is not allowed; expected {allowed}")


def _check_value(where: str, value: Any, param: Param) -> Any:
    if value is None:
        if param.section is not None:  # ``qc:`` left empty: every default
            return check_params(where, {}, param.section)
        if param.allows_none:
            return None
        raise _bad(where, value, param.describe())
    for t in param.types:
        ok, coerced = _coerce_one(value, t)
        if ok:
            break
    else:
        raise _bad(where, value, param.describe())
    if param.section is not None and isinstance(coerced, Mapping):
        return check_params(where, coerced, param.section)
    if isinstance(coerced, list):
        if param.check is not None:
            problem = param.check(coerced)
            if problem is not None:
                raise _bad(where, coerced, problem)
        if param.item_type is not None:
            items = []
            for i, item in enumerate(coerced):
                for t in (param.item_type if isinstance(param.item_type, tuple) else (param.item_type,)):
                    ok, c = _coerce_one(item, t)
                    if ok:
                        items.append(c)
                        break
                else:
                    raise InputError(f"{where}[{i}]: {item!r} is not allowed; expected {_type_words(param.item_type)}")
            coerced = items
        return coerced
    if param.options is not None and coerced not in param.options:
        raise _bad(where, coerced, param.describe())
    if param.range is not None and _is_number(coerced):
        lo, hi = param.range[0], param.range[1]
        closed = param.range[2] if len(param.range) == 3 else "both"
        low_ok = lo is None or (coerced >= lo if closed in ("both", "left") else coerced > lo)
        high_ok = hi is None or (coerced <= hi if closed in ("both", "right") else coerced < hi)
        if not (low_ok and high_ok):
            raise _bad(where, coerced, param.describe())
    if param.check is not None:
        problem = param.check(coerced)
        if problem is not None:
            raise _bad(where, coerced, problem)
    return coerced


def check_params(stage: str, given: Mapping[str, Any] | None, params: Sequence[Param]) -> dict[str, Any]:
    """Check a config section against its declaration and fill in the defaults.

    Parameters
    ----------
    stage : str
        Where the section is, for messages: ``"gwas"``, or ``"gwas.qc"`` for a nested one.
    given : mapping or None
        The user's section (``None`` or empty: every default).
    params : sequence of Param
        The declaration.

    Returns
    -------
    dict
        Every declared key, in declaration order: the user's (checked, numbers coerced) value or
        the default; nested sections filled the same way. Checking the result again returns an
        equal dict.

    Raises
    ------
    InputError
        One line: ``"gwas: unknown key 'transfrom'; did you mean 'transform'?"`` or
        ``"gwas.qc.min_info: 'high' is not allowed; expected a number in [0, 1]"``.
    """
    if given is None:
        given = {}
    if not isinstance(given, Mapping):
        raise InputError(f"{stage}: expected a mapping of options (key: value), found {given!r}")
    by_name = {p.name: p for p in params}
    for key in given:
        if key not in by_name:
            raise InputError(unknown_key_message(stage, key, list(by_name)))
    out: dict[str, Any] = {}
    for p in params:
        if p.name in given:
            out[p.name] = _check_value(f"{stage}.{p.name}", given[p.name], p)
        elif p.section is not None:
            out[p.name] = check_params(f"{stage}.{p.name}", {}, p.section)
        else:
            out[p.name] = copy.deepcopy(p.default)
    return out


def keyword_or_path(keywords: Sequence[str], what: str = "a path") -> Callable[[Any], str | None]:
    """A ``check`` for options that take a keyword or a path (e.g. ``ld``: ``"in-sample"``,
    ``"reference"`` or a PLINK prefix): a value close to a keyword (``refernce``) that names no
    existing file fails, suggesting the keyword; anything else is taken as a path."""

    def check(value: Any) -> str | None:
        text = str(value)
        if text in keywords:
            return None
        near = closest(text, keywords)
        if near is None:
            return None
        path = Path(text)
        if path.exists() or any(path.parent.glob(path.name + ".*")):
            return None
        return f"one of {', '.join(repr(k) for k in keywords)} or {what} (did you mean {near!r}?)"

    return check


def defaults(params: Sequence[Param]) -> dict[str, Any]:
    """The declared defaults (nested sections filled)."""
    return check_params("defaults", {}, params)


def get_param(params: Sequence[Param], name: str) -> Param:
    """The declaration of ``name`` (a dotted name reaches into a section: ``"qc.min_info"``)."""
    head, _, rest = name.partition(".")
    for p in params:
        if p.name == head:
            if rest:
                if p.section is None:
                    break
                return get_param(p.section, rest)
            return p
    raise KeyError(f"no declared parameter {name!r}")


def cli_option(params: Sequence[Param], name: str, *decls: str, **kwargs: Any) -> Any:
    """A ``typer.Option`` whose default and help come from the declaration of ``name``.

    ``decls`` are the flags (default ``--<name with dashes>``); ``kwargs`` go to ``typer.Option``
    (``help=`` overrides the declared help).
    """
    import typer

    p = get_param(params, name)
    text = p.help.rstrip(".") + "."
    if p.options and not all(str(o) in p.help for o in p.options):
        text += f" One of: {', '.join(map(str, p.options))}."
    kwargs.setdefault("help", text)
    return typer.Option(copy.deepcopy(p.default), *(decls or (f"--{name.replace('_', '-')}",)), **kwargs)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _default_text(p: Param) -> str:
    if p.section is not None:
        return "(see below)"
    if p.default is None:
        return "null"
    if isinstance(p.default, bool):
        return "true" if p.default else "false"
    return f"`{p.default!r}`" if isinstance(p.default, str) else f"`{p.default}`"


def markdown_table(params: Sequence[Param], prefix: str = "") -> str:
    """A Markdown table (key, type, default, allowed, meaning) of a declaration and its sections."""
    lines = ["| key | default | allowed | meaning |", "| --- | --- | --- | --- |"]
    nested = []
    for p in params:
        lines.append(f"| `{prefix}{p.name}` | {_cell(_default_text(p))} | {_cell(p.describe())} | {_cell(p.help)} |")
        if p.section is not None:
            nested.append(p)
    for p in nested:
        lines += ["", f"`{prefix}{p.name}:` ({_cell(p.help)})", "", markdown_table(p.section, prefix=f"{prefix}{p.name}.")]
    return "\n".join(lines)
