"""munge + h2: bma-genetics vs LDSC 2.0.1 (own venv, ``benchmarks/ldsc_peer.py``), same files, same run.

Input (``--run``): a study run's GWAS summary statistics (``gwas/<trait>.tsv.gz``, GWAS-SSF, by
default the four main BMFF sites) and its LD scores (``heritability/ld/``, LDSC's per-chromosome
layout), e.g. the demo's: each file is decompressed once beside its ``-meta.yaml`` (LDSC 2.0.1's
``munge_sumstats.py`` cannot read gzip: its ``read_header`` splits the bytes of ``gzip.open`` with a
str) and both tools read that same text file; LDSC with ``--frq effect_allele_frequency`` (its
other columns it recognises by name: rsid, effect_allele, other_allele, beta, p_value, info, n).
Without ``--run``: a synthetic set (``--snps`` 500,000 SNPs over 22 chromosomes, chi^2 drawn
from the LDSC model with h2 0.3 and N 40,000, LDSC's plain layout).

Each tool munges each trait and estimates its h2 against the LD scores (LDSC: its two scripts as a
user runs them, each a new interpreter; ours: ``read_sumstats`` + ``run_munge`` (with the
``.sumstats.gz`` written) + ``run_h2`` (LD scores read from the folder, per trait as LDSC does) in
one process, as the heritability stage runs them). The two alternate ``--repeat`` times (default
3) so that the machine's load falls on both alike. Printed: every round with both tools' wall and
CPU times (LDSC's: its interpreters' user + system time; ours: the process's) and ratios, the load
average before and after each round, the distribution of the per-round ratios, the best of each
tool, the SNP counts and h2 of both (checked equal: same SNP set, h2 and SE to 1e-4 relative),
and what starting LDSC's interpreter with its imports costs (part of each of its scripts). With
``--cli`` ours also runs as a user runs it from the shell (``bma-genetics ldsc munge`` then
``bma-genetics ldsc h2``, two new interpreters; the h2 command also draws its figure).

    python benchmarks/ldsc_munge_h2.py --run RUN [--traits T ...] [--repeat 3] [--cli]
    python benchmarks/ldsc_munge_h2.py [--snps 500000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.ldsc_peer import ldsc_munge, ldsc_regression, ldsc_scripts  # noqa: E402


def _synthetic(folder: Path, n_snps: int, seed: int = 1) -> tuple[Path, Path]:
    from bma_genetics.io.ldsc import LDScores, write_ld_scores

    rng = np.random.default_rng(seed)
    chrom = np.sort(rng.integers(1, 23, n_snps)).astype(str)
    pos = np.concatenate([np.sort(rng.choice(250_000_000, (chrom == c).sum(), replace=False))
                          for c in dict.fromkeys(chrom)])
    rsid = np.char.add("rs", np.arange(1, n_snps + 1).astype(str))
    l2 = rng.gamma(2.0, 50.0, n_snps)
    m = {c: float((chrom == c).sum()) for c in dict.fromkeys(chrom)}
    write_ld_scores(LDScores(pd.DataFrame({"chromosome": chrom, "rsid": rsid, "base_pair_location": pos,
                                           "l2": l2}), m, m), folder / "ld")
    n, h2, m_tot = 40_000, 0.3, float(n_snps)
    z = rng.standard_normal(n_snps) * np.sqrt(1.0 + n * h2 * l2 / m_tot)
    from scipy import stats

    a1 = rng.choice(list("ACGT"), n_snps)
    a2 = np.array([{"A": "G", "C": "T", "G": "A", "T": "C"}[x] for x in a1])
    frq = rng.uniform(0.02, 0.98, n_snps)
    table = pd.DataFrame({"CHR": chrom, "BP": pos, "SNP": rsid, "A1": a1, "A2": a2, "BETA": z / np.sqrt(n), "SE": 1 / np.sqrt(n), "P": stats.chi2.sf(z ** 2, 1),
                          "N": n, "FRQ": frq})
    path = folder / "trait.txt"
    table.to_csv(path, sep="\t", index=False, float_format="%.6g")
    return path, folder / "ld"


#: The main BMFF sites of a study run (the demo's GWAS has each, sexes combined).
MAIN_TRAITS = ["bmff_femoral_head", "bmff_total_hip", "bmff_femoral_diaphysis", "bmff_spine"]


def _from_run(folder: Path, run: Path, traits: list[str]) -> tuple[dict[str, Path], Path, list[str]]:
    """A run's GWAS files decompressed (sidecars beside them), its LD-score folder, LDSC's extra flags."""
    import gzip
    import shutil

    files = {}
    for t in traits:
        src = run / "gwas" / f"{t}.tsv.gz"
        if not src.exists():
            raise SystemExit(f"{src} not found (--traits names the run's gwas/<trait>.tsv.gz)")
        dst = folder / f"{t}.tsv"
        with gzip.open(src, "rb") as fin, open(dst, "wb") as fout:
            shutil.copyfileobj(fin, fout)
        meta = Path(f"{src}-meta.yaml")
        if meta.exists():
            shutil.copyfile(meta, f"{dst}-meta.yaml")
        files[t] = dst
    ld = run / "heritability" / "ld"
    if not ld.exists():
        raise SystemExit(f"{ld} not found: the run has no heritability stage's LD scores")
    return files, ld, ["--frq", "effect_allele_frequency"]


_PLAIN_COLUMNS = {"rsid": "SNP", "effect_allele": "A1", "other_allele": "A2", "beta": "BETA", "standard_error": "SE",
                  "p_value": "P", "n": "N", "effect_allele_frequency": "FRQ", "chromosome": "CHR",
                  "base_pair_location": "BP"}


def _ours(sumstats: Path, ld: Path, out: Path, plain: bool) -> tuple[list[float], Any, Any]:
    """read_sumstats, run_munge (+ write), run_h2: the times after each, the h2 row, the munged table."""
    from bma_genetics.heritability.api import run_h2, run_munge
    from bma_genetics.io import read_sumstats

    t0 = time.perf_counter()
    ss = read_sumstats(sumstats, format="table", columns=_PLAIN_COLUMNS) if plain else read_sumstats(sumstats)
    t1 = time.perf_counter()
    munged = run_munge(ss, out=out)
    t2 = time.perf_counter()
    row = run_h2({"trait": munged}, ld).table.iloc[0]
    t3 = time.perf_counter()
    return [t1 - t0, t2 - t1, t3 - t2], row, munged.table


def _children_cpu() -> float:
    """User + system CPU seconds of this process's finished children (LDSC's scripts)."""
    import resource

    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def _interpreter_start() -> float:
    """Seconds LDSC's interpreter takes to start and import what its scripts import."""
    import subprocess

    py = ldsc_scripts()["python"]
    t0 = time.perf_counter()
    subprocess.run([str(py), "-c", "import numpy, pandas, scipy.stats, bitarray"], check=True)
    return time.perf_counter() - t0


def _ours_cli(sumstats: Path, ld: Path, out: Path) -> None:
    """``bma-genetics ldsc munge`` then ``bma-genetics ldsc h2``, each a new interpreter."""
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    cmd = [sys.executable, "-m", "bma_genetics.cli", "ldsc"]
    subprocess.run([*cmd, "munge", "--sumstats", str(sumstats), "--out", f"{out}.sumstats.gz"], check=True, env=env,
                   capture_output=True)
    subprocess.run([*cmd, "h2", f"{out}.sumstats.gz", "--ld-scores", str(ld), "--out", f"{out}_h2"], check=True,
                   env=env, capture_output=True)


def _spread(values: list[float]) -> str:
    v = sorted(values)
    return f"median {float(np.median(v)):.1f}x (range {v[0]:.1f}x-{v[-1]:.1f}x; rounds " + ", ".join(
        f"{x:.1f}x" for x in values) + ")"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, help="a study run folder (its gwas/ and heritability/ld/), e.g. the demo's")
    ap.add_argument("--traits", nargs="+", default=MAIN_TRAITS, help="with --run: gwas/<trait>.tsv.gz to use")
    ap.add_argument("--snps", type=int, default=500_000, help="without --run: synthetic SNPs")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cli", action="store_true", help="also time ours as two bma-genetics commands per trait")
    args = ap.parse_args(argv)
    import bma_genetics.heritability.api  # noqa: F401  (imported once, outside the timings)
    import bma_genetics.io  # noqa: F401
    from bma_genetics.io.ldsc import read_munged_sumstats

    with tempfile.TemporaryDirectory() as tmp:
        w = Path(tmp)
        if args.run is not None:
            inputs, ld, extra = _from_run(w, args.run, args.traits)
        else:
            sumstats, ld = _synthetic(w, args.snps)
            inputs, extra = {"synthetic": sumstats}, []
        n_rows = {t: sum(1 for _ in open(f)) - 1 for t, f in inputs.items()}
        ldsc_scripts()  # installs the peer once, outside the timings
        rounds = []
        for r in range(max(1, args.repeat)):
            load0 = os.getloadavg()[0]
            peer_t, peer_cpu, mine_t, mine_cpu, cli_t, cli_cpu = [0.0, 0.0], 0.0, [0.0, 0.0, 0.0], 0.0, 0.0, 0.0
            check = {}
            for t, f in inputs.items():
                c0 = _children_cpu()
                t0 = time.perf_counter()
                munged = ldsc_munge(f, w / f"peer{r}_{t}", extra=extra)
                t1 = time.perf_counter()
                theirs = ldsc_regression(["--h2", str(munged), "--ref-ld-chr", f"{ld}/", "--w-ld-chr", f"{ld}/",
                                          "--out", str(w / f"peer_h2_{r}_{t}")])
                t2 = time.perf_counter()
                peer_cpu += _children_cpu() - c0
                peer_t[0] += t1 - t0
                peer_t[1] += t2 - t1
                c0 = time.process_time()
                times, ours, table = _ours(f, ld, w / f"ours{r}_{t}.sumstats.gz", plain=args.run is None)
                mine_cpu += time.process_time() - c0
                mine_t = [a + b for a, b in zip(mine_t, times, strict=True)]
                if args.cli:
                    c0 = _children_cpu()
                    t0 = time.perf_counter()
                    _ours_cli(f, ld, w / f"cli{r}_{t}")
                    cli_t += time.perf_counter() - t0
                    cli_cpu += _children_cpu() - c0
                check[t] = (read_munged_sumstats(munged)["rsid"].tolist() == table["rsid"].tolist(),
                            max(abs(ours["h2"] / theirs["h2"] - 1), abs(ours["h2_standard_error"] / theirs["h2_se"] - 1)),
                            len(table), ours["h2"], ours["h2_standard_error"], theirs["h2"], theirs["h2_se"])
            load1 = os.getloadavg()[0]
            rounds.append({"peer": peer_t, "peer_cpu": peer_cpu, "mine": mine_t, "mine_cpu": mine_cpu, "cli": cli_t,
                           "cli_cpu": cli_cpu, "load": (load0, load1)})
            cli = (f"; bma-genetics commands {cli_t:.2f} s, CPU {cli_cpu:.2f} ({sum(peer_t) / cli_t:.1f}x wall, "
                   f"{peer_cpu / cli_cpu:.1f}x CPU)" if args.cli else "")
            print(f"round {r + 1} (load {load0:.1f} -> {load1:.1f}): ldsc 2.0.1 {sum(peer_t):6.2f} s (munge "
                  f"{peer_t[0]:.2f}, h2 {peer_t[1]:.2f}; CPU {peer_cpu:.2f}); bma-genetics {sum(mine_t):6.2f} s "
                  f"(read_sumstats {mine_t[0]:.2f}, munge + write {mine_t[1]:.2f}, h2 {mine_t[2]:.2f}; CPU "
                  f"{mine_cpu:.2f}); {sum(peer_t) / sum(mine_t):.1f}x wall, {peer_cpu / mine_cpu:.1f}x CPU{cli}",
                  flush=True)
        start = _interpreter_start()
    for t, (same, rel, n_snps, h2, se, h2_peer, se_peer) in check.items():
        print(f"{t}: {n_rows[t]:,} SNPs in, {n_snps:,} munged, same SNP set as LDSC: {same}; h2 {h2:.5f} ({se:.5f}) "
              f"vs LDSC {h2_peer:.5f} ({se_peer:.5f}), largest relative difference {rel:.1e}")
        if not same or rel > 1e-4:
            print("  DIFFERENT from LDSC")
    wall = [sum(x["peer"]) / sum(x["mine"]) for x in rounds]
    cpu = [x["peer_cpu"] / x["mine_cpu"] for x in rounds]
    loads = [v for x in rounds for v in x["load"]]
    best_p, best_m = min(rounds, key=lambda x: sum(x["peer"])), min(rounds, key=lambda x: sum(x["mine"]))
    bp, bm = best_p["peer"], best_m["mine"]
    print(f"{len(inputs)} trait(s); load average {min(loads):.1f}-{max(loads):.1f}")
    print(f"ldsc 2.0.1   best of {len(rounds)}: munge {bp[0]:6.2f} s  h2 {bp[1]:6.2f} s  total {sum(bp):6.2f} s; "
          f"CPU best {min(x['peer_cpu'] for x in rounds):.2f} s")
    print(f"bma-genetics best of {len(rounds)}: munge {bm[0] + bm[1]:6.2f} s  h2 {bm[2]:6.2f} s  total {sum(bm):6.2f} s "
          f"(read_sumstats {bm[0]:.2f} s, munge + write {bm[1]:.2f} s); CPU best "
          f"{min(x['mine_cpu'] for x in rounds):.2f} s")
    print(f"LDSC's interpreter start and imports {start:.2f} s per script ({2 * len(inputs)} scripts)")
    print(f"speed-up, best of each: {sum(bp) / sum(bm):.1f}x wall (munge {bp[0] / (bm[0] + bm[1]):.1f}x, h2 "
          f"{bp[1] / bm[2]:.1f}x), {min(x['peer_cpu'] for x in rounds) / min(x['mine_cpu'] for x in rounds):.1f}x CPU")
    print(f"per round: wall {_spread(wall)}; CPU {_spread(cpu)}")
    if args.cli:
        print(f"ours as commands per round: wall {_spread([sum(x['peer']) / x['cli'] for x in rounds])}; CPU "
              f"{_spread([x['peer_cpu'] / x['cli_cpu'] for x in rounds])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
