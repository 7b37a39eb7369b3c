"""The complete-case projection: every linear (trait, stratum) of a pass from one matrix product per
block of variants.

Hail's ``linear_regression_rows`` projects the covariates out of each block of genotypes once per
*missingness group* (the traits that share a pattern of defined samples), so ten traits that each
miss a different handful of people cost ten projections. Here the analyses of a pass are gathered
into **families** (same covariates, same stratum); each family gets one orthonormal basis ``Q`` of
its covariates (intercept included) over its base samples ``B`` (the union of its analyses'
samples), and each group ``g`` of the family (samples ``S_g = B minus E_g``) is corrected exactly
for its few excluded samples ``E_g``:

.. math::

    Q_{S_g}^\\top x = Q^\\top x - Q_{E_g}^\\top x_{E_g}, \\quad
    x^\\top x\\big|_{S_g} = x^\\top x\\big|_B - x_{E_g}^\\top x_{E_g}, \\quad
    A_g = Q_{S_g}^\\top Q_{S_g} = I - Q_{E_g}^\\top Q_{E_g}

and with ``y_g`` zero outside ``S_g`` (so ``y_g' x`` needs no correction) the regression of the
group follows from a (k x k) system per group (Frisch-Waugh-Lovell; exact algebra):

.. math::

    x'M_g x = x'x|_{S_g} - z_g' A_g^{-1} z_g,\\quad y'M_g x = y_g'x - (Q_{S_g}'y_g)' A_g^{-1} z_g,\\quad
    \\hat\\beta = \\frac{y'M_g x}{x'M_g x},\\quad
    \\mathrm{SE}^2 = \\frac{y'M_g y / x'M_g x - \\hat\\beta^2}{n_g - k - 1}

(``z_g = Q_{S_g}' x``). Per block of ``b`` variants the pass computes ``X W`` once (``W`` = every
family's ``[Q, 1_B]`` and every trait's ``y_g``: one BLAS matrix product, Hail ndarray), ``(X∘X)
1_B`` per family, and per group the small product of the excluded samples' dosages with
``[Q_E, 1]``. A group whose excluded samples are more than half its family's (a trait measured in
few people) becomes its own family (``E`` empty). A variant with a missing dosage gets missing
values and the :data:`REDO` flag: ``run_gwas`` refits those few with the per-group passes (Hail's
mean imputation over each group's samples). Results are those of ``linear_regression_rows``: ``beta``,
``standard_error``, ``t_stat``, ``p_value`` (Student t with ``n - k - 1`` degrees of freedom, ``k``
covariates with the intercept) and the group's ``sum_x / 2n`` as the effect allele frequency.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

#: A group whose excluded samples exceed this share of its family's base samples gets its own
#: basis (the correction would cost more than a projection of its own).
MAX_EXCLUDED_SHARE = 0.5
#: Field of the projection's table marking variants with a missing dosage: their values are left
#: missing and :func:`bma_genetics.gwas.association.run_gwas` fits them with Hail's per-group
#: ``linear_regression_rows`` (mean imputation per group; rare: imputed dosages are never missing).
REDO = "projection_redo"
#: Smallest eigenvalue of ``A_g = I - Q_E' Q_E`` accepted for the correction; below it (the
#: excluded samples carry a covariate direction: e.g. every member of a small centre) the group
#: gets its own basis.
MIN_EIGENVALUE = 1e-6
#: The per-variant statistics of the projection's table, each an array over the analyses.
STATISTICS = ("beta", "se", "t", "p", "eaf")
#: Global of the projection's table: the analyses' columns, in the order of its arrays.
COLUMNS_GLOBAL = "__projection_columns"


@dataclass
class _Group:
    analyses: list[Any]
    mask: np.ndarray  # over frame rows
    excluded: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # B minus S, over frame rows
    ycols: tuple[int, int] = (0, 0)  # [start, stop) in W
    linv_t: np.ndarray | None = None  # (r, r): L^-T with L L' = A
    r_mat: np.ndarray | None = None  # (r, t): A^-1 Q_S' Y
    ymy: np.ndarray | None = None  # (t,)
    n: int = 0
    d: int = 0
    ecol: str = ""  # column flag of the excluded samples


@dataclass
class _Family:
    covariates: tuple[str, ...]
    base: np.ndarray  # over frame rows
    groups: list[_Group] = field(default_factory=list)
    q: np.ndarray | None = None  # (n_frame, r), zero outside base
    qcols: tuple[int, int] = (0, 0)
    onecol: int = 0
    index: int = 0


def _basis(c: np.ndarray) -> np.ndarray:
    """Orthonormal basis of the column space of ``c`` (intercept first), rank-revealing."""
    sd = c.std(axis=0)
    z = c.copy()
    scale = np.where(sd > 0, sd, 1.0)
    z[:, 1:] = (c[:, 1:] - c[:, 1:].mean(axis=0)) / scale[1:]
    u, s, _ = np.linalg.svd(z, full_matrices=False)
    r = int((s > s[0] * 1e-10).sum())
    return u[:, :r]


def _design(frame: pd.DataFrame, covs: Sequence[str], rows: np.ndarray) -> np.ndarray:
    return np.column_stack([np.ones(int(rows.sum())), *[frame[f"cov__{c}"].to_numpy(dtype=float)[rows] for c in covs]])


def plan_projection(frame: pd.DataFrame, analyses: Sequence[Any],
                    covariates_of: Mapping[str, tuple[str, ...]]) -> list[_Family]:
    """Families, groups and every per-group constant of the projection (numpy, once per pass)."""
    fams: dict[tuple, _Family] = {}
    for a in analyses:
        key = (covariates_of[a.column], a.stratum)
        fam = fams.setdefault(key, _Family(covariates=key[0], base=np.zeros(len(frame), bool)))
        fam.base |= a.samples
        for g in fam.groups:
            if np.array_equal(g.mask, a.samples):
                g.analyses.append(a)
                break
        else:
            fam.groups.append(_Group(analyses=[a], mask=a.samples.copy()))
    families: list[_Family] = []
    pending = list(fams.values())
    while pending:
        fam = pending.pop(0)
        fam.base = np.logical_or.reduce([g.mask for g in fam.groups])
        nb = int(fam.base.sum())
        own = [g for g in fam.groups if (fam.base & ~g.mask).sum() > MAX_EXCLUDED_SHARE * nb]
        if own and len(fam.groups) > 1:
            for g in own:
                fam.groups.remove(g)
                pending.append(_Family(covariates=fam.covariates, base=g.mask.copy(), groups=[g]))
            pending.insert(0, fam)
            continue
        qb = _basis(_design(frame, fam.covariates, fam.base))
        q = np.zeros((len(frame), qb.shape[1]))
        q[fam.base] = qb
        fam.q = q
        bad = []
        for g in fam.groups:
            g.excluded = fam.base & ~g.mask
            qe = q[g.excluded]
            a_mat = np.eye(q.shape[1]) - qe.T @ qe
            if np.linalg.eigvalsh(a_mat)[0] < MIN_EIGENVALUE:
                bad.append(g)
                continue
            g.linv_t = np.linalg.inv(np.linalg.cholesky(a_mat)).T
            y = np.column_stack([np.where(g.mask, frame[a.column].to_numpy(dtype=float), 0.0) for a in g.analyses])
            g.r_mat = np.linalg.solve(a_mat, q.T @ y)
            cs = _design(frame, fam.covariates, g.mask)
            ys = y[g.mask]
            coef, *_ = np.linalg.lstsq(cs, ys, rcond=None)
            resid = ys - cs @ coef
            g.ymy = (resid * resid).sum(axis=0)
            g.n = int(g.mask.sum())
            g.d = g.n - len(fam.covariates) - 2
        if bad and len(fam.groups) > 1:
            for g in bad:
                fam.groups.remove(g)
                pending.append(_Family(covariates=fam.covariates, base=g.mask.copy(), groups=[g]))
            pending.insert(0, fam)
            continue
        if bad:  # a lone group whose own design is singular: its basis is of the rank it has
            g = bad[0]
            g.excluded = np.zeros(len(frame), bool)
            y = np.column_stack([np.where(g.mask, frame[a.column].to_numpy(dtype=float), 0.0) for a in g.analyses])
            g.linv_t = np.eye(q.shape[1])
            g.r_mat = q.T @ y
            ys = y[g.mask]
            g.ymy = (ys * ys).sum(axis=0) - (g.r_mat * g.r_mat).sum(axis=0)
            g.n = int(g.mask.sum())
            g.d = g.n - len(fam.covariates) - 2
        families.append(fam)
    return families


def projection_pass(hl, mt, analyses: Sequence[Any], frame: pd.DataFrame,
                    covariates_of: Mapping[str, tuple[str, ...]], row_fields: Sequence[str], block_size: int = 128):
    """Every linear analysis of a pass over ``mt`` in one pass (see the module docstring).

    Parameters
    ----------
    hl : module
        Hail.
    mt : hail.MatrixTable
        Entry ``dosage``, column key ``s`` (the eids of ``frame``).
    analyses : list of Analysis
        Quantitative analyses (their ``column`` holds y in ``frame``, NaN outside ``samples``).
    frame : DataFrame
        ``eid``, the y columns and ``cov__<name>`` columns (``plan_analyses``'s frame, or a LOCO
        chromosome's).
    covariates_of : dict
        Analysis column -> its covariates in this pass.
    row_fields : list of str
        Row fields carried into the result.
    block_size : int
        Variants per matrix product.

    Returns
    -------
    hail.Table
        Keyed by locus and alleles: ``row_fields``, :data:`REDO` and one array per statistic
        (``__beta``, ``__se``, ``__t``, ``__p``, ``__eaf``; element j for the j-th analysis
        column of the global :data:`COLUMNS_GLOBAL`). :func:`expand_projection_frame` turns its
        pandas form into the per-group passes' ``k__beta`` ... ``k__eaf`` columns.
    """
    families = plan_projection(frame, analyses, covariates_of)
    groups = [g for f in families for g in f.groups]
    fam_of = [fi for fi, f in enumerate(families) for _ in f.groups]
    members = [(gi, ti, a) for gi, g in enumerate(groups) for ti, a in enumerate(g.analyses)]
    n_f, n_g, n_t = len(families), len(groups), len(members)
    rs = [f.q.shape[1] for f in families]
    qoff = np.concatenate([[0], np.cumsum(rs)]).astype(int)  # family f's Q columns in W[:, :sum r]
    goff = np.concatenate([[0], np.cumsum([rs[fam_of[gi]] for gi in range(n_g)])]).astype(int)
    n_q, n_w = int(qoff[-1]), int(goff[-1])
    # W = [every family's Q | every family's 1_B | every trait's y (zero outside its group's samples)]
    w = np.zeros((len(frame), n_q + n_f + n_t))
    for fi, f in enumerate(families):
        w[:, qoff[fi]:qoff[fi + 1]] = f.q
        w[:, n_q + fi] = f.base
    for j, (gi, _ti, a) in enumerate(members):
        w[:, n_q + n_f + j] = np.where(groups[gi].mask, frame[a.column].to_numpy(dtype=float), 0.0)
    # constants: Z_f -> [R | L^-T] per trait/group; the excluded samples' rows of the same maps
    zmap = np.zeros((n_q, n_t + n_w))
    emask = np.zeros((len(frame), n_g), bool)
    for gi, g in enumerate(groups):
        fi = fam_of[gi]
        zmap[qoff[fi]:qoff[fi + 1], n_t + goff[gi]:n_t + goff[gi + 1]] = g.linv_t
        emask[:, gi] = g.excluded
    for j, (gi, ti, _a) in enumerate(members):
        fi = fam_of[gi]
        zmap[qoff[fi]:qoff[fi + 1], j] = groups[gi].r_mat[:, ti]
    any_e = emask.any(axis=1)
    # per excluded sample e: [V | U | 1_E]: V[e, j] = q_e . R_j, U[e, g] = q_e L_g^-T, for e in E_g
    ev = np.zeros((len(frame), n_t + n_w + n_g))
    q_all = np.column_stack([f.q for f in families])  # (n_frame, n_q): each family's basis (zero off B)
    for gi, g in enumerate(groups):
        fi = fam_of[gi]
        e = g.excluded
        if e.any():
            ev[e, n_t + n_w + gi] = 1.0
            ev[e, n_t + goff[gi]:n_t + goff[gi + 1]] = q_all[e, qoff[fi]:qoff[fi + 1]] @ g.linv_t
    for j, (gi, ti, _a) in enumerate(members):
        fi = fam_of[gi]
        e = groups[gi].excluded
        if e.any():
            ev[e, j] = q_all[e, qoff[fi]:qoff[fi + 1]] @ groups[gi].r_mat[:, ti]
    gsum = np.zeros((n_w, n_g))  # sums each group's block of columns
    for gi in range(n_g):
        gsum[goff[gi]:goff[gi + 1], gi] = 1.0
    fmap = np.zeros((n_f, n_g))
    fmap[fam_of, np.arange(n_g)] = 1.0
    gmap = np.zeros((n_g, n_t))  # group -> its traits
    for j, (gi, _ti, _a) in enumerate(members):
        gmap[gi, j] = 1.0
    n_vec = np.array([groups[gi].n for gi in range(n_g)], dtype=float)
    ymy = np.array([groups[gi].ymy[ti] for gi, ti, _a in members])
    d_vec = np.array([groups[gi].d for gi, _ti, _a in members], dtype=float)
    log.info("projection pass: %d analyses in %d group(s) of %d famil%s; W is %d x %d; %d excluded sample(s) "
             "(per group %s)", n_t, n_g, n_f, "y" if n_f == 1 else "ies", *w.shape, int(any_e.sum()),
             [int(g.excluded.sum()) for g in groups])

    import hailtop.fs as hfs

    def column_table(values: np.ndarray, rows: np.ndarray, prefix: str):
        names = [f"{prefix}{j}" for j in range(values.shape[1])]
        df = pd.concat([pd.DataFrame({"eid": frame["eid"].astype(str).to_numpy()[rows]}),
                        pd.DataFrame(values[rows], columns=names)], axis=1)
        path = hl.utils.new_temp_file(prefix="gwas-projection", extension="tsv")
        with hfs.open(path, "w") as fh:
            df.to_csv(fh, sep="\t", index=False, float_format="%.17g")
        ht = hl.import_table(path, key="eid", types=dict.fromkeys(names, hl.tfloat64), impute=False)
        return ht, names

    wt, wnames = column_table(w, np.ones(len(frame), bool), "w")
    et, enames = column_table(ev, any_e, "e")
    wrow, erow = wt[mt.s], et[mt.s]
    zeros = hl.range(len(wnames)).map(lambda _: 0.0)
    mt = mt.select_cols(__w=hl.or_else(hl.or_missing(hl.is_defined(wrow), hl.array([wrow[c] for c in wnames])), zeros),
                        __e=hl.or_missing(hl.is_defined(erow), hl.array([erow[c] for c in enames])))
    mt = mt.select_rows(*row_fields)
    mt = mt.select_entries(x=mt.dosage)
    ht = mt._localize_entries("__ent", "__cols")
    ht = ht.annotate_globals(__eidx=hl.range(hl.len(ht.__cols)).filter(lambda i: hl.is_defined(ht.__cols[i].__e)))
    cols_of = {"__WQ": (0, n_q), "__WO": (n_q, n_q + n_f), "__WY": (n_q + n_f, n_q + n_f + n_t)}
    ecols_of = {"__EY": (0, n_t), "__EU": (n_t, n_t + n_w), "__EI": (n_t + n_w, n_t + n_w + n_g)}
    # the per-sample matrices as globals, one per part (no slicing in the per-block code below)
    ht = ht.annotate_globals(**{k: hl.nd.array(ht.__cols.map(lambda c, lo=lo, hi=hi: c.__w[lo:hi]))
                                for k, (lo, hi) in cols_of.items()},
                             **{k: hl.nd.array(ht.__eidx.map(lambda i, lo=lo, hi=hi: ht.__cols[i].__e[lo:hi]))
                                for k, (lo, hi) in ecols_of.items()})
    ht = ht.annotate(__x0=ht.__ent.map(lambda e: hl.coalesce(e.x, 0.0)),
                     __nmiss=hl.len(ht.__ent.filter(lambda e: hl.is_missing(e.x))))
    ht = ht.drop("__ent")
    key = list(ht.key)
    nd = hl.nd.array
    # constants as globals, and nothing computed from globals alone (nor any ndarray slice) inside
    # the per-block code: Hail's common-subexpression pass lifts such an expression out of the
    # partition function and fails (an assertion) when it needs a binding of its own
    ht = ht.annotate_globals(__zR=nd(zmap[:, :n_t].copy()), __zL=nd(zmap[:, n_t:].copy()), __gsum=nd(gsum),
                             __fmap=nd(fmap), __gmap=nd(gmap), __ymy=nd(ymy).reshape((1, -1)),
                             __d=nd(d_vec).reshape((1, -1)), __den=nd(2 * n_vec @ gmap).reshape((1, -1)),
                             __dfree=hl.literal([float(d) for d in d_vec]))
    c_gsum, c_fmap, c_gmap = ht.__gsum, ht.__fmap, ht.__gmap
    c_ymy, c_d, c_dfree = ht.__ymy, ht.__d, ht.__dfree
    has_e = bool(any_e.any())

    def pieces(X, XE):
        """y'M_g x per trait, Z_g L_g^-T per group (columns side by side), sums of x and x^2 per group."""
        return hl.rbind(X @ ht.__WQ, X @ ht.__WO, lambda XQ, XO: hl.rbind(
            X @ ht.__WY - XQ @ ht.__zR, XQ @ ht.__zL, XO @ c_fmap, ((X * X) @ ht.__WO) @ c_fmap,
            lambda ymx, wg, sx, xx: (ymx, wg, sx, xx) if XE is None else (
                ymx + XE @ ht.__EY, wg - XE @ ht.__EU, sx - XE @ ht.__EI, xx - (XE * XE) @ ht.__EI)))

    def finish(ymx, wg, sx, xx):
        return hl.rbind(
            ((xx - (wg * wg) @ c_gsum) @ c_gmap).map(lambda v: 1.0 / v), lambda rec: hl.rbind(
                ymx * rec, lambda beta: hl.rbind(
                    ((c_ymy * rec - beta * beta) / c_d).map(hl.sqrt), lambda se: hl.struct(
                        beta=beta, se=se, t=beta / se, eaf=(sx @ c_gmap) / ht.__den))))

    def gather(rows):
        return nd(rows.map(lambda v: ht.__eidx.map(lambda i: v[i])))

    def plain(block):
        return hl.rbind(block.map(lambda rw: rw.__x0), lambda xr: hl.rbind(
            pieces(nd(xr), gather(xr) if has_e else None), lambda pc: finish(pc[0], pc[1], pc[2], pc[3])))

    # per variant one array per statistic (element j: member j), not a field per analysis and
    # statistic: the query's size, and with it Hail's compile time (most of the pass on the demo),
    # no longer grows with the number of analyses; expand_projection_frame spreads them in pandas

    def process_block(block):
        res = plain(block)

        def build_row(i, res):
            def fields(row, ok):
                out = {k: row[k] for k in key}
                out.update({f: row[f] for f in row_fields})
                js = hl.range(n_t)
                def row_of(m):
                    return hl.or_missing(ok, js.map(lambda j: m[i, j]))

                for name in ("beta", "se", "t", "eaf"):
                    out[f"__{name}"] = row_of(res[name])
                out["__p"] = hl.or_missing(ok, js.map(lambda j: 2 * hl.pT(-hl.abs(res.t[i, j]), c_dfree[j],
                                                                          lower_tail=True, log_p=False)))
                out[REDO] = ~ok
                return hl.struct(**out)

            return hl.rbind(block[i], lambda row: hl.rbind(row.__nmiss == 0, lambda ok: fields(row, ok)))

        return hl.rbind(res, lambda res: hl.range(hl.len(block)).map(lambda i: build_row(i, res)))

    out = ht._map_partitions(lambda part: part.grouped(block_size).flatmap(lambda b: process_block(b)._to_stream()))
    return out.select_globals(**{COLUMNS_GLOBAL: hl.literal([a.column for _gi, _ti, a in members])})


def expand_projection_frame(part: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The projection table as pandas (``to_pandas``) with its per-variant arrays spread to the
    ``<column>__beta`` / ``__se`` / ``__t`` / ``__p`` / ``__eaf`` columns of the per-group passes
    (``columns``: the table's :data:`COLUMNS_GLOBAL`, the analyses' columns in array order); a
    variant flagged :data:`REDO` has missing arrays and gets NaN."""
    arrays = {}
    for name in STATISTICS:
        values = part.pop(f"__{name}")
        ok = values.notna().to_numpy()
        mat = np.full((len(part), len(columns)), np.nan)
        if ok.any():
            mat[ok] = np.array(values[ok].tolist(), dtype=float)
        arrays[name] = mat
    spread = {f"{c}__{name}": arrays[name][:, j] for j, c in enumerate(columns) for name in STATISTICS}
    redo = part.pop(REDO)
    return pd.concat([part.reset_index(drop=True), pd.DataFrame(spread), redo.reset_index(drop=True)], axis=1)
