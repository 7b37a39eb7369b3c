"""Calvarial BMA recovery on simulated heads: BMA vs true marrow intensity, QC vs planted failures.

    PYTHONPATH=. python benchmarks/calvarial_recovery.py COHORT OUT [N_HEADS] [FAILURE_FRACTION] [VOXEL_MM]

COHORT: a simulated cohort (layout 5 or later: ``truth/calvarial_true.parquet``). Writes the head
images, the calvarial table and ``recovery.json`` (Pearson r, slope, intercept, residual SD of
measured on true over the QC-passed clean heads; failures flagged per kind; false flags) into OUT.
docs/calvarial.md records a run (150 heads at 1.5 mm: r, QC rates, seconds per head).
"""

import json
import sys
import time

import numpy as np

from bma_genetics.calvarial.api import compare_to_truth, run_calvarial
from bma_genetics.simulate.heads import simulate_head_images

if __name__ == "__main__":
    cohort, out = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 150
    frac = float(sys.argv[4]) if len(sys.argv) > 4 else 0.1
    voxel = float(sys.argv[5]) if len(sys.argv) > 5 else 1.5
    t0 = time.perf_counter()
    truth = simulate_head_images(cohort, n=n, seed=11, out=out, failure_fraction=frac, voxel_mm=voxel,
                                 formats=("nifti",))
    t1 = time.perf_counter()
    r = run_calvarial(f"{out}/images", out=f"{out}/calvarial")
    t2 = time.perf_counter()
    vs, det, head = compare_to_truth(r.to_frame(), truth)
    m = r.to_frame().merge(truth, on="eid")
    clean = m[(m["failure"] == "none") & m["qc_pass"]]
    resid = clean["calvarial_bma"] - (vs["intercept"].iloc[0] + vs["slope"].iloc[0] * clean["marrow_intensity"])
    res = {**{k: (v.item() if hasattr(v, "item") else v) for k, v in head.items()},
           "slope": float(vs["slope"].iloc[0]), "intercept": float(vs["intercept"].iloc[0]),
           "residual_sd": round(float(np.std(resid, ddof=2)), 4), "detection": det.to_dict("records"),
           "n_heads": n, "voxel_mm": voxel, "seconds_simulate_per_head": round((t1 - t0) / n, 3),
           "seconds_measure_per_head": round((t2 - t1) / n, 3)}
    print(json.dumps(res, indent=1))
    with open(f"{out}/recovery.json", "w") as fh:
        json.dump(res, fh, indent=1)
