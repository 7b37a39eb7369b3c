"""Calvarial BMA recovery on simulated heads: BMA vs true marrow intensity, QC vs planted failures.

    PYTHONPATH=. python benchmarks/calvarial_recovery.py COHORT OUT [N_HEADS] [FAILURE_FRACTION] [VOXEL_MM] [INTENSITY]

COHORT: a simulated cohort (layout 5 or later: ``truth/calvarial_true.parquet``). INTENSITY: the
heads' scale, ``scanner`` (default: a gain per scanner and head and a bias field, normalised by the
measurement) or ``nu`` (FreeSurfer's nu.mgz scale, the truth's). Writes the head images, the
calvarial table and ``recovery.json`` (Pearson r, slope, intercept, residual SD of measured on true
over the QC-passed clean heads; failures flagged per kind; false flags; the QC metrics of every
planted failure and falsely flagged head; wall and CPU seconds) into OUT. docs/calvarial.md records
a run.
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
    intensity = sys.argv[6] if len(sys.argv) > 6 else "scanner"
    t0, c0 = time.perf_counter(), time.process_time()
    truth = simulate_head_images(cohort, n=n, seed=11, out=out, failure_fraction=frac, voxel_mm=voxel,
                                 formats=("nifti",), intensity=intensity)
    t1, c1 = time.perf_counter(), time.process_time()
    r = run_calvarial(f"{out}/images", out=f"{out}/calvarial")
    t2, c2 = time.perf_counter(), time.process_time()
    vs, det, head = compare_to_truth(r.to_frame(), truth)
    m = r.to_frame().merge(truth, on="eid")
    clean = m[(m["failure"] == "none") & m["qc_pass"]]
    resid = clean["calvarial_bma"] - (vs["intercept"].iloc[0] + vs["slope"].iloc[0] * clean["marrow_intensity"])
    cols = ["eid", "failure", "qc_pass", "qc_n_points", "qc_min_points", "qc_outer_table_sd", "qc_md_outlier_share",
            "skull", "size", "adiposity", "marrow_intensity", "calvarial_bma"]
    odd = m[(m["failure"] != "none") | ~m["qc_pass"]][cols].sort_values(["failure", "eid"])
    undo = (m.loc[m["failure"] == "none", "intensity_scale"] * m.loc[m["failure"] == "none", "gain"])
    res = {**{k: (v.item() if hasattr(v, "item") else v) for k, v in head.items()},
           "slope": float(vs["slope"].iloc[0]), "intercept": float(vs["intercept"].iloc[0]),
           "residual_sd": round(float(np.std(resid, ddof=2)), 4), "detection": det.to_dict("records"),
           "failures_and_flags": json.loads(odd.to_json(orient="records")),
           "clean_outer_table_sd": {q: round(float(np.percentile(m.loc[m["failure"] == "none", "qc_outer_table_sd"], p)), 3)
                                    for q, p in (("median", 50), ("p99", 99), ("max", 100))},
           "scale_times_gain": {"median": round(float(undo.median()), 4), "min": round(float(undo.min()), 4),
                                "max": round(float(undo.max()), 4)},
           "n_heads": n, "voxel_mm": voxel, "intensity": intensity,
           "seconds_simulate_per_head": round((t1 - t0) / n, 3), "cpu_seconds_simulate_per_head": round((c1 - c0) / n, 3),
           "seconds_measure_per_head": round((t2 - t1) / n, 3), "cpu_seconds_measure_per_head": round((c2 - c1) / n, 3)}
    print(json.dumps(res, indent=1))
    with open(f"{out}/recovery.json", "w") as fh:
        json.dump(res, fh, indent=1)
