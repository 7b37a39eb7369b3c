"""Cohort presets and the checks on their parameters."""

from __future__ import annotations

from typing import Any

from bma_genetics._check import fail

#: Parameters shared by every preset (population genetics, QC plants, disease model).
COMMON: dict[str, Any] = {
    "ne": 10_000,  # effective population size of each ancestry group
    "split_time": 2_000,  # generations since the two groups split
    "recombination_rate": 1e-8,  # per bp per generation
    "mutation_rate": 1.5e-8,
    "maf_min": 0.005,  # variants kept: cohort MAF at least this
    "ref_is_derived": 0.1,  # fraction of variants whose REF allele is the derived one
    "frac_group2": 0.10,  # ancestry group 2 (non-European) share of cohort and outcome sample
    "group2_hotspot_kb": 20.0,  # mean spacing of group 2's own recombination hotspots (its LD differs)
    "array_fraction": 0.3,  # share of variants (MAF >= 0.01) also on the genotyping array
    "array_missing_rate": 0.002,
    "pca_max_variants": 20_000,
    "imaged_fraction": 0.95,
    "site_missing_rate": 0.01,  # per base site among the imaged (failed segmentation)
    "withdrawn_fraction": 0.005,
    "low_info_threshold": 0.3,
    "outcome_case_fraction": 0.15,
    "mr_log_odds_per_sd": 0.40,  # causal femoral-head BMFF -> osteoporosis in the outcome sample
    "p_low": 0.002,  # prevalence range of unrelated diagnoses
    "p_high": 0.03,
    # planted confounding (simulate/confounding.py): BMFF shift between two regions of group 1, latent
    # SD units (0: off, the cohort as without it), and the regions' expected F_ST
    "confounding": 0.0,
    "confounding_fst": 3e-5,
    # planted imaging-batch shift (simulate/imaging_batch.py): added to the BMFF of batch 2 (imaging
    # visit on or after io.covariates.IMAGING_BATCH_SPLIT), latent SD units (0: off)
    "imaging_batch_offset": 0.0,
}

PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {
        "n_participants": 1_000,
        "n_outcome": 2_000,
        "n_variants": 8_000,
        "segment_length": 500_000,
        "n_background_segments": 5,
        "n_background_causal": 150,
        "n_sib_pairs": 8,
        "n_po_pairs": 8,
        "n_sex_mismatch": 4,
        "n_het_missing_outliers": 5,
        "n_aneuploidy": 2,
        "n_hwe_fail": 10,
        "n_low_call_rate": 10,
        "n_random_phecodes": 400,
    },
    "demo": {
        "n_participants": 10_000,
        "n_outcome": 20_000,
        "n_variants": 100_000,
        "segment_length": 1_500_000,
        "n_background_segments": 40,
        "n_background_causal": 1_000,
        "n_sib_pairs": 50,
        "n_po_pairs": 50,
        "n_sex_mismatch": 20,
        "n_het_missing_outliers": 25,
        "n_aneuploidy": 8,
        "n_hwe_fail": 50,
        "n_low_call_rate": 50,
        "n_random_phecodes": 1_500,
    },
    "large": {
        "n_participants": 50_000,
        "n_outcome": 50_000,
        "n_variants": 200_000,
        "segment_length": 2_000_000,
        "n_background_segments": 60,
        "n_background_causal": 2_000,
        "n_sib_pairs": 250,
        "n_po_pairs": 250,
        "n_sex_mismatch": 100,
        "n_het_missing_outliers": 120,
        "n_aneuploidy": 40,
        "n_hwe_fail": 100,
        "n_low_call_rate": 100,
        "n_random_phecodes": 2_000,
    },
}

#: Sizes and counts: whole numbers >= 0 (every preset-specific parameter).
_INTEGER = set(PRESETS["tiny"])
_FRACTIONS = {
    "ref_is_derived", "frac_group2", "array_fraction", "array_missing_rate", "imaged_fraction",
    "site_missing_rate", "withdrawn_fraction", "low_info_threshold", "outcome_case_fraction",
    "p_low", "p_high", "maf_min",
}
#: Effect sizes that may be 0 (off).
_NONNEGATIVE = {"confounding", "imaging_batch_offset"}


def parse_overrides(items: list[str]) -> dict[str, int | float]:
    """``["confounding=1.0", "n_participants=5000"]`` -> ``{"confounding": 1.0, "n_participants": 5000}``.

    Parameters
    ----------
    items : list of str
        ``KEY=VALUE`` strings (the CLI's ``--override``); values are numbers.

    Raises
    ------
    InputError
        An item without ``=`` or a value that is not a number (checked against the preset by
        :func:`resolve`).
    """
    out: dict[str, int | float] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise fail("simulate/--override", f"expected KEY=VALUE, found {item!r}")
        try:
            number: int | float = int(value)
        except ValueError:
            try:
                number = float(value)
            except ValueError:
                raise fail(f"simulate/--override/{key.strip()}", f"expected a number, found {value!r}") from None
        out[key.strip()] = number
    return out


def resolve(preset: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The full parameter set of a preset with overrides applied and checked."""
    if preset not in PRESETS:
        raise fail("simulate_cohort/preset", f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    cfg = {**COMMON, **PRESETS[preset]}
    unknown = sorted(set(overrides) - set(cfg))
    if unknown:
        raise fail("simulate_cohort/overrides", f"unknown parameter(s) {unknown}; known: {sorted(cfg)}")
    cfg.update(overrides)
    for key, value in cfg.items():
        where = f"simulate_cohort/{key}"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail(where, f"expected a number, found {value!r}")
        if key in _INTEGER:
            if int(value) != value:
                raise fail(where, f"expected a whole number, found {value!r}")
            if value < 0:
                raise fail(where, f"expected a size >= 0, found {value!r}")
            cfg[key] = int(value)
        elif key in _FRACTIONS:
            if not 0 <= value <= 1:
                raise fail(where, f"expected a fraction in [0, 1], found {value!r}")
        elif key in _NONNEGATIVE:
            if value < 0:
                raise fail(where, f"expected a number >= 0, found {value!r}")
        elif value <= 0:
            raise fail(where, f"expected a number > 0, found {value!r}")
    for key, low in (("n_background_causal", 16), ("n_participants", 100), ("n_outcome", 100), ("n_variants", 200), ("segment_length", 50_000)):
        if cfg[key] < low:
            raise fail(f"simulate_cohort/{key}", f"expected at least {low}, found {cfg[key]}")
    need = 2 * (cfg["n_sib_pairs"] + cfg["n_po_pairs"]) + cfg["n_het_missing_outliers"] + cfg["n_aneuploidy"]
    if need > 0.5 * cfg["n_participants"] * (1 - cfg["frac_group2"]):
        raise fail("simulate_cohort/n_participants", f"{cfg['n_participants']} is too few for the planted relatives and QC problems ({need})")
    if cfg["p_low"] > cfg["p_high"]:
        raise fail("simulate_cohort/p_low", f"p_low {cfg['p_low']} exceeds p_high {cfg['p_high']}")
    return cfg
