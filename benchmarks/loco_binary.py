"""Binary traits with relatives kept: REGENIE-style LOCO (logistic level 1, offset in step 2) vs
dropping relatives vs ignoring them, on the relatives simulator.

Usage::

    python benchmarks/loco_binary.py [--out DIR] [--preset ukb|dense] [--traits 8] [--prevalence 0.2]

Simulates a cohort with relatives (``bma_genetics.simulate.relatives``, ``--preset ukb``: UK
Biobank's relatedness) with binary traits ``case_k`` (liability threshold of ``trait_k`` at
``--prevalence``; h2 0.5 on the liability from the causal chromosomes, the other half of the
chromosomes null for every trait), then on the same genotypes:

- ``keep_loco``: step 1 with the logistic level 1 (:func:`bma_genetics.gwas.regenie.run_step1`),
  step 2 the logistic Wald test with the LOCO prediction as offset, divided by the binary
  relatedness factor (:meth:`~bma_genetics.gwas.regenie.LocoAdjuster.relatedness_factor`);
- ``keep_loco_uncalibrated``: the same without the kinship pairs (REGENIE's own statistic);
- ``drop``: logistic regression on a maximal unrelated set (``io.unrelated_set``, pairs >= 0.0442);
- ``keep_plain``: logistic regression on everyone, no LOCO.

``--test score`` uses the score test at the null fit instead of the Wald test (REGENIE's first
test; asymptotically the same statistic, one matrix product per chromosome).

Step 2 runs in numpy here (the same model as ``run_gwas``'s Hail pass
:func:`~bma_genetics.gwas.glm.logistic_offset_pass`: Newton on intercept, covariates and dosage
with the offset, to 1e-10; ``tests/test_gwas_glm.py::test_binary_loco_step2_offset`` checks the
Hail pass against the same fit), vectorised over the variants of a chromosome: Hail's per-variant
ndarray fit of 3,000 people x 20,000 variants x traits x 4 settings takes too long on a loaded
two-core machine. Variants whose fit does not converge would go to Firth in ``run_gwas``; here
they are counted and left out.

Prints the pooled λGC over the null chromosomes with its standard error (2.33 / √tests), the
mean χ² and the count of P < 5e-8 at the planted large-effect variants (power), the relatedness
factors and the wall/CPU times.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special, stats

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.loco_relatives import run_summary  # noqa: E402


def wald_batch(c: np.ndarray, x: np.ndarray, y: np.ndarray, o: np.ndarray, start: np.ndarray, *,
               tol: float = 1e-10, max_iter: int = 25) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Logistic Wald test of every column of ``x`` (n x m) with covariates ``c`` (n x k, intercept
    first) and offset ``o``: Newton from the null coefficients ``start``; the dosage's beta, SE and
    whether each fit converged."""
    n, k = c.shape
    m = x.shape[1]
    b = np.zeros((k + 1, m))
    b[:k] = start[:, None]
    done = np.zeros(m, bool)
    beta = np.full(m, np.nan)
    se = np.full(m, np.nan)
    for _ in range(max_iter):
        todo = ~done
        if not todo.any():
            break
        xs, bs = x[:, todo], b[:, todo]
        p = special.expit(o[:, None] + c @ bs[:k] + xs * bs[k])
        w = p * (1 - p)
        r = y[:, None] - p
        f = np.empty((xs.shape[1], k + 1, k + 1))
        f[:, :k, :k] = np.einsum("ia,ib,iv->vab", c, c, w, optimize=True)
        cx = (c.T @ (w * xs)).T
        f[:, :k, k] = f[:, k, :k] = cx
        f[:, k, k] = (w * xs * xs).sum(axis=0)
        g = np.column_stack([(c.T @ r).T, (xs * r).sum(axis=0)])
        d = np.linalg.solve(f, g[..., None])[..., 0]
        small = np.abs(d).max(axis=1) < tol
        idx = np.flatnonzero(todo)
        beta[idx[small]] = bs[k, small]
        se[idx[small]] = np.sqrt(np.linalg.inv(f[small])[:, k, k])
        done[idx[small]] = True
        b[:, idx[~small]] = bs[:, ~small] + d[~small].T
    return beta, se, done


def score_batch(c: np.ndarray, x: np.ndarray, y: np.ndarray, o: np.ndarray, start: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Logistic score test of every column of ``x`` at the null fit (coefficients ``start`` with
    offset ``o``): REGENIE's default first test; reported as the one-step estimate ``U / V`` and
    SE ``1 / sqrt(V)`` (so z = U / sqrt(V)); always "converged"."""
    p = special.expit(o + c @ start)
    w = p * (1 - p)
    e = y - p
    wc = c * w[:, None]
    u = x.T @ e
    cwx = wc.T @ x
    v = (w[:, None] * x * x).sum(axis=0) - np.einsum("kv,kv->v", cwx, np.linalg.solve(c.T @ wc, cwx))
    return u / v, 1 / np.sqrt(v), np.ones(x.shape[1], bool)


class NumpyBinaryStep2:
    """Step 2 of every binary trait on every chromosome (see the module docstring)."""

    def __init__(self, bfile: Path, table: pd.DataFrame, traits: list[str], covs: list[str],
                 loco: dict[str, pd.DataFrame] | None, *, kinship: pd.DataFrame | None = None, test: str = "wald"):
        from bma_genetics.gwas.association import plan_analyses
        from bma_genetics.gwas.regenie import LOCO_CHROMOSOMES, LocoAdjuster
        from bma_genetics.ld.readers import PlinkReader

        analyses, frame = plan_analyses(table, traits=traits, covariates=covs, binary=traits)
        eids = frame["eid"].astype(str)
        if loco is None:  # no LOCO: an offset of zero is the plain logistic regression
            loco = {t: pd.DataFrame(0.0, index=eids.to_numpy(), columns=list(LOCO_CHROMOSOMES)) for t in traits}
        adj = LocoAdjuster(frame, analyses, loco, kinship=kinship)
        reader = PlinkReader(bfile)
        pos = {s: i for i, s in enumerate(reader.samples)}
        dose = reader.dosages(np.arange(reader.n_variants))[[pos[e] for e in eids]].astype(float)
        chrom = reader.variants["chromosome"].astype(str).to_numpy()
        bp = reader.variants["base_pair_location"].to_numpy()
        self.sumstats: dict[str, pd.DataFrame] = {}
        self.not_converged = 0
        for a in analyses:
            m = a.samples
            y = frame[a.column].to_numpy(dtype=float)[m]
            c = np.column_stack([np.ones(int(m.sum())), *[frame[f"cov__{k}"].to_numpy(dtype=float)[m] for k in covs]])
            parts = []
            for ch in dict.fromkeys(chrom):
                sel = chrom == ch
                start, _ = adj.binary_null(a, ch)
                fit = wald_batch if test == "wald" else score_batch
                beta, se, ok = fit(c, dose[m][:, sel], y, adj._offset(a, ch)[m], start)
                self.not_converged += int((~ok).sum())
                f = adj.relatedness_factor(a, ch)
                se = se * np.sqrt(f)
                parts.append(pd.DataFrame({"chromosome": ch, "base_pair_location": bp[sel], "beta": beta,
                                           "standard_error": se, "p_value": 2 * stats.norm.sf(np.abs(beta / se))}))
            self.sumstats[a.trait] = pd.concat(parts, ignore_index=True).dropna(subset=["beta"])
        self.factors = dict(adj.factors)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--preset", choices=("ukb", "dense"), default="ukb")
    ap.add_argument("--chromosomes", type=int, default=10)
    ap.add_argument("--variants", type=int, default=2000, help="per chromosome")
    ap.add_argument("--traits", type=int, default=8)
    ap.add_argument("--h2", type=float, default=0.5)
    ap.add_argument("--prevalence", type=float, default=0.2)
    ap.add_argument("--block-size", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--test", choices=("wald", "score"), default="wald",
                    help="step 2's test: the Wald test run_gwas reports (default), or the score test (REGENIE's "
                         "first test; one product per chromosome, ~7x faster on a loaded machine)")
    args = ap.parse_args(argv)

    from bma_genetics._blas import blas_threads
    from bma_genetics.gwas.regenie import run_step1
    from bma_genetics.io import read_kinship, unrelated_set
    from bma_genetics.simulate.relatives import relatives_preset, simulate_related_cohort

    out = args.out or Path(tempfile.mkdtemp(prefix="loco_binary_"))
    out.mkdir(parents=True, exist_ok=True)
    times: dict[str, tuple[float, float]] = {}

    def clock(name: str, t0: tuple[float, float]) -> None:
        times[name] = (time.perf_counter() - t0[0], time.process_time() - t0[1])

    t0 = (time.perf_counter(), time.process_time())
    c = simulate_related_cohort(out / "cohort", **relatives_preset(args.preset), n_chromosomes=args.chromosomes,
                                variants_per_chromosome=args.variants, h2=args.h2, n_traits=args.traits,
                                prevalence=args.prevalence, seed=args.seed)
    clock("simulate", t0)
    ph = pd.read_csv(c.pheno, sep="\t", dtype={"IID": str}).drop(columns="FID").rename(columns={"IID": "eid"})
    cv = pd.read_csv(c.covar, sep="\t", dtype={"IID": str}).drop(columns="FID").rename(columns={"IID": "eid"})
    table = ph.merge(cv, on="eid")
    traits = [t for t in ph.columns if t.startswith("case_")]
    covs = ["sex", "age"]
    null_chroms = set(c.null_chromosomes)
    truth = pd.read_csv(c.out / "truth" / "causal_variants.tsv", sep="\t", dtype={"chromosome": str})
    truth["trait"] = truth["trait"].str.replace("trait_", "case_")

    t0 = (time.perf_counter(), time.process_time())
    with blas_threads(1):  # level 1's small solves: OpenBLAS threads only oversubscribe a busy machine
        step1 = run_step1(table, bfile=c.bfile, traits=traits, covariates=covs, binary=traits,
                          block_size=args.block_size, seed=args.seed, out=out / "step1")
    clock("step1", t0)
    kin = read_kinship(c.kinship)
    removed = unrelated_set(kin, table["eid"])
    kept = set(table["eid"]) - removed
    runs = {}
    for name, tab, loco, k in (("keep_loco", table, step1.predictions, kin),
                               ("keep_loco_uncalibrated", table, step1.predictions, None),
                               ("drop", table[table["eid"].isin(kept)], None, None),
                               ("keep_plain", table, None, None)):
        t0 = (time.perf_counter(), time.process_time())
        with blas_threads(1):  # small batched solves: OpenBLAS threads only oversubscribe a busy machine
            runs[name] = NumpyBinaryStep2(c.bfile, tab, traits, covs, loco, kinship=k, test=args.test)
        clock(f"step2_{name}", t0)

    meta = json.loads((c.out / "truth" / "relatives.json").read_text())
    report: dict = {"preset": args.preset, "n_samples": c.n_samples, "n_unrelated_set": int(len(kept)),
                    "share_with_listed_relative": meta["share_with_listed_relative"],
                    "n_variants": c.n_variants, "n_traits": len(traits), "h2_liability": args.h2,
                    "prevalence": args.prevalence, "test": args.test, "null_chromosomes": sorted(null_chroms, key=int),
                    "step1_cv_r2_mean": round(float(step1.to_frame()["cv_r2"].mean()), 4),
                    "step1_h2_l1": step1.to_frame()["h2_l1"].round(3).tolist()}
    v = np.array(list(runs["keep_loco"].factors.values()))
    report["relatedness_factor"] = {"mean": round(float(v.mean()), 4), "min": round(float(v.min()), 4),
                                    "max": round(float(v.max()), 4)}
    for name, res in runs.items():
        report[name] = run_summary(res.sumstats, traits, truth, null_chroms) | {"not_converged": res.not_converged}
    report["seconds_wall_cpu"] = {k: [round(w, 1), round(p, 1)] for k, (w, p) in times.items()}
    print(json.dumps(report, indent=1))
    (out / "report.json").write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
