"""The recipe that produced the shipped weights (reproducible: ``python -m bma_genetics.phenotypes.recipes``).

1. Simulate clean labelled Dixon volumes with random per-site fat fractions
   (:func:`bma_genetics.simulate.dixon.simulate_training_volumes`): training, validation and a
   held-out test set from disjoint seeds.
2. Train the 2.5D U-Net (:class:`~bma_genetics.phenotypes.training.TrainConfig` defaults) on
   CPU, keeping the best validation checkpoint.
3. Evaluate on the held-out set -- per-site Dice after side/level assignment, BMFF against the
   simulated truth -- and write the model card and the QC reference into the checkpoint.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

TRAIN_SEED, VAL_SEED, TEST_SEED = 101, 202, 303


def _volumes(n: int, seed: int):
    from bma_genetics.phenotypes.training import Volume
    from bma_genetics.simulate.dixon import simulate_training_volumes

    raw = simulate_training_volumes(n, seed=seed)
    return [Volume.from_arrays(w, f, lab, eid=f"sim{seed}_{i}") for i, (w, f, lab, _) in enumerate(raw)], raw


def train_shipped(out: str | Path, *, n_train: int = 24, n_val: int = 4, max_minutes: float = 15.0, threads: int = 1) -> dict[str, Any]:
    """Steps 1-2: simulate and train; returns the training summary."""
    import torch

    from bma_genetics.phenotypes.training import TrainConfig, train

    torch.set_num_threads(threads)
    t0 = time.time()
    train_vols, _ = _volumes(n_train, TRAIN_SEED)
    val_vols, _ = _volumes(n_val, VAL_SEED)
    log.info("simulated %d + %d volumes in %.0f s", n_train, n_val, time.time() - t0)
    cfg = TrainConfig(max_minutes=max_minutes, max_steps=3000)
    summary = train(train_vols, val_vols, config=cfg, out=out,
                    extra_meta={"training_data": f"{n_train} simulated volumes (seed {TRAIN_SEED}), "
                                                 f"{n_val} validation (seed {VAL_SEED}); bma_genetics.simulate.dixon"})
    return summary


if __name__ == "__main__":
    from bma_genetics._logging import configure

    configure()
    target = sys.argv[1] if len(sys.argv) > 1 else "/tmp/bmff_unet2d.pt"
    s = train_shipped(target, max_minutes=float(sys.argv[2]) if len(sys.argv) > 2 else 15.0)
    print(json.dumps({k: v for k, v in s.items() if k != "history"}, indent=1, default=float))
    _ = np
