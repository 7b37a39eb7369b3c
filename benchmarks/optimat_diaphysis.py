"""OPTIMAT BMFF against the truth per site, and what the Gaussian smoothing does to the diaphysis (issue 20).

Two parts:

``demo IMAGES COHORT``: for every imaged participant without an injected artefact of an images
folder (the ``images`` stage's, or :func:`bma_genetics.simulate.dixon.simulate_dixon_images`'s
``out``), rebuilds the noise-free phantom exactly as the simulation did (the draw is checked
against ``IMAGES/truth/images.tsv``), reads the participant's 20201 zip and measures every OPTIMAT
ROI (:data:`bma_genetics.phenotypes.bmff.OPTIMAT_ROIS`, the neck left out) four ways: OPTIMAT
(sigma 2) on the shipped U-Net's masks (``opt_unet``; the first ``--unet-max`` participants) and
on the true label masks (``opt_true``), the unsmoothed image on the true-mask ROI (``raw_true``),
and the noise-free unsmoothed fat fraction over the true-mask ROI (``roi_true``: what OPTIMAT's
ROI targets) and over the U-Net ROI (``roi_true_unet``); beside the site truth (``site_truth``:
the whole site's 3-D-eroded noise-free mean, ``truth/images.tsv``) and the canal radius of the
diaphysis ROI (``canal_radius_px``: sqrt(mean slice area / pi)). Writes ``--out`` (one row per
participant, resumable) and prints r, bias and SD of the difference per site.

``xsec``: a 2-D cross-section of the femoral shaft (marrow disc, cortical ring, muscle, fat; 8 x 8
supersampled partial volume), the OPTIMAT smoothing bias of the uneroded ROI against the canal
radius, and its between-person SD for the simulator's canal sizes and for realistic ones
(diameter N(10.5, 1.5) and N(12, 1.5) mm, cortex 6.5 mm without signal, 2.232 mm pixels).

Usage: ``python benchmarks/optimat_diaphysis.py demo IMAGES COHORT [--seed 1] [--unet-max N]
[--max-rows N] [--out rows.tsv]``; ``python benchmarks/optimat_diaphysis.py xsec``.
Numbers: docs/phenotypes.md ("Why the diaphysis misses r >= 0.98").
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SITES = ["femoral_head_left", "total_hip_left", "femoral_diaphysis_left", "t8", "t9", "t10", "t11", "t12",
         "l1", "l2", "l3", "l4", "l5"]
D = "femoral_diaphysis_left"


def measure_demo(a: argparse.Namespace) -> pd.DataFrame:
    """Per-participant OPTIMAT values on U-Net and true masks (see the module docstring)."""
    from bma_genetics.io.dixon import read_dixon_zip
    from bma_genetics.io.withdrawals import read_withdrawals
    from bma_genetics.phenotypes.api import predict_bmff
    from bma_genetics.phenotypes.bmff import OPTIMAT_ROIS, optimat_ff_map, optimat_roi, site_masks
    from bma_genetics.phenotypes.inference import load_model
    from bma_genetics.simulate.dixon import (
        DixonGeometry,
        _read_truth,
        _stitch_stations,
        acquire_stations,
        plant_spine_variants,
        simulate_dixon_volume,
    )

    imgs = pd.read_csv(a.images / "truth" / "images.tsv", sep="\t", dtype={"eid": str})
    truth = _read_truth(a.cohort)
    wd_file = a.cohort / "participants" / "withdrawals.csv"
    if wd_file.exists():
        truth = truth[~truth["eid"].isin(read_withdrawals(wd_file))].reset_index(drop=True)
    n = len(imgs)
    rng = np.random.default_rng(a.seed)  # the draws of simulate_dixon_images, in its order
    sub = truth.iloc[np.sort(rng.choice(len(truth), size=n, replace=False))].reset_index(drop=True)
    if list(sub["eid"]) != list(imgs["eid"]):
        raise SystemExit("optimat_diaphysis: the imaged subset is not the one simulated with this cohort and seed")
    rng.choice(n, size=int(round(a.artefact_fraction * n)), replace=False)
    spine = plant_spine_variants(n, a.spine_variant_fraction, a.seed)
    seeds = rng.integers(0, 2**63 - 1, size=(n, 3))
    geo = DixonGeometry()
    model = load_model()
    rows: list[dict] = []
    if a.out.exists():
        rows = pd.read_csv(a.out, sep="\t", dtype={"eid": str}).to_dict("records")
    done = {str(r["eid"]) for r in rows}
    for i in range(n):
        eid = str(sub.loc[i, "eid"])
        if imgs.loc[i, "artefact"] != "none" or eid in done:
            continue
        if len(rows) >= a.max_rows:
            break
        t0 = time.time()
        t = {k: float(v) for k, v in sub.loc[i].items() if k != "eid"}
        sim = simulate_dixon_volume(t, seed=int(seeds[i, 0]), geometry=geo, spine=str(spine[i]))
        stations, rec = acquire_stations(sim, seed=int(seeds[i, 1]), geometry=geo, artefact=None)
        _, kept = _stitch_stations(stations, geo)
        c0, c1 = rec["cols"]
        lab = sim.labels[kept][:, :, c0:c1].astype(int)
        w0, f0 = sim.water[kept][:, :, c0:c1], sim.fat[kept][:, :, c0:c1]
        ff0 = f0 / np.maximum(w0 + f0, 1e-6) * 100
        vol = read_dixon_zip(a.images / imgs.loc[i, "zip"])
        if vol.water.shape != lab.shape or np.corrcoef(vol.water.ravel(), w0.ravel())[0, 1] < 0.9:
            raise SystemExit(f"optimat_diaphysis: {eid}: the zip does not match the rebuilt phantom")
        true_sites = np.where((lab >= 1) & (lab <= 16), lab, 0)
        n_unet = sum(1 for x in rows if np.isfinite(float(x.get(f"{D}:opt_unet", np.nan))))
        if n_unet < a.unet_max:
            row_u, sites_u = predict_bmff(vol, model, return_sites=True, method="optimat")
        else:
            row_u, sites_u = {}, np.zeros_like(true_sites)
        ff2 = optimat_ff_map(vol.water, vol.fat)
        ffraw = optimat_ff_map(vol.water, vol.fat, sigma=1e-3)
        mt, mu = site_masks(true_sites), site_masks(sites_u)
        r = {"eid": eid, "size": sim.params["size"], "spine": str(spine[i])}
        for stem, code in OPTIMAT_ROIS.items():
            if stem == "femoral_neck_left":
                continue
            rt = optimat_roi(mt[stem], vol.station, diaphysis=code == "D")
            ru = optimat_roi(mu[stem], vol.station, diaphysis=code == "D")
            r[f"{stem}:opt_unet"] = float(row_u.get(f"bmff_{stem}", np.nan)) * 100 if ru.any() else np.nan
            r[f"{stem}:opt_true"] = ff2[rt].mean() if rt.any() else np.nan
            r[f"{stem}:raw_true"] = ffraw[rt].mean() if rt.any() else np.nan
            r[f"{stem}:roi_true"] = ff0[rt].mean() if rt.any() else np.nan
            r[f"{stem}:roi_true_unet"] = ff0[ru].mean() if ru.any() else np.nan
            r[f"{stem}:n_true"] = int(rt.sum())
            r[f"{stem}:site_truth"] = float(imgs.loc[i, f"bmff_{stem}"]) * 100
            if code == "D":
                zs = np.flatnonzero(rt.any(axis=(1, 2)))
                r["canal_radius_px"] = float(np.sqrt(rt.sum() / max(len(zs), 1) / np.pi))
                r["diaph_roi_slices"] = len(zs)
        rows.append(r)
        pd.DataFrame(rows).to_csv(a.out, sep="\t", index=False)
        print(f"{eid}: {time.time() - t0:.0f} s", flush=True)
    return pd.DataFrame(rows)


def _rbs(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, int]:
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        return float("nan"), float("nan"), float("nan"), int(ok.sum())
    e = x[ok] - y[ok]
    return float(np.corrcoef(x[ok], y[ok])[0, 1]), float(e.mean()), float(e.std(ddof=1)), int(ok.sum())


def summarise(d: pd.DataFrame) -> pd.DataFrame:
    """r, bias and SD of the difference (pp) per site for each comparison."""
    comps = [("unet_vs_truth", "opt_unet", "site_truth"), ("true_vs_truth", "opt_true", "site_truth"),
             ("unet_vs_roitrue", "opt_unet", "roi_true_unet"), ("true_vs_roitrue", "opt_true", "roi_true"),
             ("raw_vs_roitrue", "raw_true", "roi_true"), ("roitrue_vs_truth", "roi_true", "site_truth")]
    d = d.copy()
    for k in ("opt_unet", "opt_true", "raw_true", "roi_true", "roi_true_unet", "site_truth"):
        d[f"spine:{k}"] = d[[f"{v}:{k}" for v in SITES[3:]]].mean(axis=1, skipna=False)
    out = []
    for s in [*SITES, "spine"]:
        row: dict = {"site": s, "truth_sd": float(d[f"{s}:site_truth"].std(ddof=1))}
        for name, x, y in comps:
            r, b, sd, n = _rbs(d[f"{s}:{x}"].to_numpy(float), d[f"{s}:{y}"].to_numpy(float))
            row.update({f"{name}_r": r, f"{name}_bias": b, f"{name}_sd": sd, f"{name}_n": n})
        out.append(row)
    return pd.DataFrame(out)


def xsec_bias(rc: float, t: float, *, px: float = 2.2, f: float = 0.85, cortex: tuple[float, float] = (0.05, 0.03),
              thigh: float = 60.0, sc: float = 10.0, n_off: int = 6, rng: np.random.Generator | None = None) -> float:
    """OPTIMAT smoothing bias (pp) of the uneroded ROI of a 2-D shaft cross-section (canal radius ``rc`` mm,
    cortex ``t`` mm), averaged over random sub-pixel centres: ROI mean of G(F)/(G(F)+G(W)) minus the ROI mean
    of the unsmoothed noise-free fat fraction."""
    rng = rng or np.random.default_rng(5)
    ss, n = 8, 64
    out = []
    for _ in range(n_off):
        ox, oy = rng.uniform(-0.5, 0.5, 2) * px
        c = (np.arange(n * ss) + 0.5) / ss * px - n * px / 2
        r = np.hypot(*np.meshgrid(c - ox, c - oy))
        zones = [r < rc, r < rc + t, r < thigh, r < thigh + sc]
        w = np.select(zones, [0.95 * (1 - f), cortex[0], 0.85, 0.10], 0.0).reshape(n, ss, n, ss).mean(axis=(1, 3))
        fa = np.select(zones, [0.95 * f, cortex[1], 0.04, 0.90], 0.0).reshape(n, ss, n, ss).mean(axis=(1, 3))
        cc = (np.arange(n) + 0.5) * px - n * px / 2
        roi = np.hypot(*np.meshgrid(cc - ox, cc - oy)) < rc

        def g(v: np.ndarray) -> np.ndarray:
            return ndimage.gaussian_filter(v, 2.0, mode="nearest", truncate=2.0)

        with np.errstate(invalid="ignore", divide="ignore"):
            ff = g(fa) / (g(fa) + g(w)) * 100
        raw = fa / np.maximum(fa + w, 1e-9) * 100
        out.append(ff[roi].mean() - raw[roi].mean())
    return float(np.mean(out))


def xsec() -> None:
    """Print the cross-section model's bias curve and between-person SDs."""
    rng = np.random.default_rng(5)
    print("canal radius mm | bias, simulator tissues (cortex 5.5/7.5 of the radius, PD 0.08) | "
          "bias, cortex 6.5 mm without signal, 2.232 mm pixels")
    for rc in (4.0, 5.0, 6.0, 6.9, 7.5, 7.9, 9.0):
        print(f"{rc:5.2f} {xsec_bias(rc, 5.5 * rc / 7.5, rng=rng):8.2f} "
              f"{xsec_bias(rc, 6.5, cortex=(0.0, 0.0), px=2.232, rng=rng):8.2f}")
    s = rng.uniform(0.92, 1.05, 200)
    e = np.array([xsec_bias(7.5 * v, 5.5 * v, n_off=2, rng=rng) for v in s])
    print(f"simulator canal (radius 7.5 x U(0.92, 1.05) mm): bias mean {e.mean():.2f}, SD {e.std():.2f} pp")
    for mu in (10.5, 12.0):
        dia = np.clip(rng.normal(mu, 1.5, 200), 6, 20)
        e = np.array([xsec_bias(v / 2, 6.5, cortex=(0.0, 0.0), px=2.232, n_off=2, rng=rng) for v in dia])
        print(f"canal diameter N({mu}, 1.5) mm: bias mean {e.mean():.2f}, SD {e.std():.2f} pp")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sp = p.add_subparsers(dest="cmd", required=True)
    q = sp.add_parser("demo")
    q.add_argument("images", type=Path)
    q.add_argument("cohort", type=Path)
    q.add_argument("--seed", type=int, default=1)
    q.add_argument("--artefact-fraction", type=float, default=0.1)
    q.add_argument("--spine-variant-fraction", type=float, default=0.04)
    q.add_argument("--unet-max", type=int, default=1000)
    q.add_argument("--max-rows", type=int, default=1000)
    q.add_argument("--out", type=Path, default=Path("runs/optimat_diaphysis.tsv"))
    sp.add_parser("xsec")
    a = p.parse_args(argv)
    if a.cmd == "xsec":
        xsec()
        return
    a.out.parent.mkdir(parents=True, exist_ok=True)
    d = measure_demo(a)
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 40)
    print(summarise(d).round(3).to_string(index=False))
    sm = d[f"{D}:opt_true"] - d[f"{D}:roi_true"]
    print(f"diaphysis smoothing error (opt_true - roi_true): mean {sm.mean():.2f}, SD {sm.std():.2f} pp; "
          f"corr with canal radius {np.corrcoef(sm, d['canal_radius_px'])[0, 1]:.2f}, with body size "
          f"{np.corrcoef(sm, d['size'])[0, 1]:.2f}; canal radius {d['canal_radius_px'].min():.2f}-"
          f"{d['canal_radius_px'].max():.2f} px")


if __name__ == "__main__":
    main()
