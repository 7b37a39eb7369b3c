"""The Python file ``spark-submit`` runs: any ``bma-genetics`` command line under spark-submit.

``bma-genetics spark-submit-args`` prints the arguments (Hail's jar and settings, then this
file's path), so a study runs on a cluster with::

    spark-submit $(bma-genetics spark-submit-args --master spark://HOST:7077) run study.yaml

``python -m bma_genetics.pipeline.submit run study.yaml`` is ``bma-genetics run study.yaml``.
A first argument ending in ``.yaml`` / ``.yml`` means ``run`` it. Under spark-submit the Spark
master is spark-submit's ``--master`` (the study's ``hail.master`` is not used); see
``docs/cluster/standalone.md``.
"""

from __future__ import annotations

import os
import sys


def _argv(argv: list[str]) -> list[str]:
    """The command line: ``study.yaml ...`` stands for ``run study.yaml ...``."""
    return ["run", *argv] if argv and argv[0].endswith((".yaml", ".yml")) else list(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the ``bma-genetics`` command line ``argv`` (default ``sys.argv[1:]``)."""
    from bma_genetics.cli import main as cli_main

    return cli_main(_argv(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    # spark-submit runs this file as a script, which puts its folder first on sys.path; the
    # package's own modules must not shadow others by name there
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    sys.exit(main())
