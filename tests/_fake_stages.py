"""Two tiny stages for the runner's tests: ``up`` writes a table, ``down`` reads it (REQUIRES)."""

from __future__ import annotations

from pathlib import Path

from bma_genetics._params import Param, check_params

CALLS: list[str] = []
#: ``ctx.continuing`` as each ``up`` run saw it.
CONTINUING: list[bool] = []
#: Set to make ``up`` fail after writing its table (as a killed run would stop).
CRASH: list[bool] = [False]


class Up:
    NAME = "up"
    REQUIRES: list[str] = []
    INPUTS = ["up_input.txt"]  # read from the cohort when present: added to the value
    PARAMS = [Param("value", int, 1, "the number written", range=(0, None))]

    @staticmethod
    def run(ctx, params):
        p = check_params("up", params, Up.PARAMS)
        CALLS.append("up")
        CONTINUING.append(getattr(ctx, "continuing", None))
        extra = ctx.cohort / "up_input.txt" if ctx.cohort is not None else None
        value = p["value"] + (int(extra.read_text()) if extra is not None and extra.exists() else 0)
        path = ctx.stage_dir("up") / "value.txt"
        path.write_text(str(value))
        if CRASH[0]:
            raise RuntimeError("up: stopped on purpose")
        return {"files": {"value": "value.txt"}, "tables": ["value.txt"]}


class Down:
    NAME = "down"
    REQUIRES = ["up"]
    PARAMS = [Param("factor", int, 2, "multiplier")]

    @staticmethod
    def run(ctx, params):
        p = check_params("down", params, Down.PARAMS)
        CALLS.append("down")
        value = int(Path(ctx.product("up", "value")).read_text())
        return {"result": value * p["factor"]}
