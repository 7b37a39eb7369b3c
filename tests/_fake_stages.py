"""Two tiny stages for the runner's tests: ``up`` writes a table, ``down`` reads it (REQUIRES)."""

from __future__ import annotations

from pathlib import Path

from bma_genetics._params import Param, check_params

CALLS: list[str] = []


class Up:
    NAME = "up"
    REQUIRES: list[str] = []
    PARAMS = [Param("value", int, 1, "the number written", range=(0, None))]

    @staticmethod
    def run(ctx, params):
        p = check_params("up", params, Up.PARAMS)
        CALLS.append("up")
        path = ctx.stage_dir("up") / "value.txt"
        path.write_text(str(p["value"]))
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
