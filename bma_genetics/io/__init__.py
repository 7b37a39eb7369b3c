"""UK Biobank data layer and the contracts between stages: every table in, checked.

See ``docs/io.md``. Readers for showcase CSV/TSV, ukbconv R/Stata/SAS/SPSS, research-platform
tables and Parquet (:func:`read_ukb`), access by field (:func:`get_field`), withdrawals
(:func:`read_withdrawals`), the standard genetic sample QC (:func:`run_sample_qc`), the
participant table (:func:`build_participant_table`), diagnoses from an export
(:func:`read_diagnoses`), and all of it in one call from an export (:func:`run_participants`).

Each table that passes between stages has exactly one reader and one writer here, checking
its columns, dtypes and format version (:mod:`bma_genetics.io._schema`): the participant table
(:func:`read_participant_table` / :func:`write_participant_table`), the BMFF table
(:func:`read_bmff_table` / :func:`write_bmff_table`, :func:`read_bmff_provenance`) and the
diagnosis table (:func:`read_diagnosis_table` / :func:`write_diagnoses`).

The names are loaded on first use, so ``bma-genetics --help`` does not import pandas.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "BMFF_SCHEMA",
    "BUILTIN_CODINGS",
    "BUILTIN_FIELDS",
    "CATEGORICAL_COVARIATES",
    "Coding",
    "DIAGNOSIS_SCHEMA",
    "Dictionary",
    "FieldInfo",
    "FieldKey",
    "GENOME_BUILDS",
    "IMAGING_CENTRES",
    "PARTICIPANT_COLUMNS",
    "PARTICIPANT_FIELDS",
    "PARTICIPANT_SCHEMA",
    "ParticipantsResult",
    "QC_STEPS",
    "SUMSTATS_COLUMNS",
    "SUMSTATS_FORMATS",
    "SumstatsFormat",
    "UKBData",
    "assign_ancestry",
    "build_of",
    "build_participant_table",
    "check_same_build",
    "design_covariates",
    "check_bgen",
    "check_plink",
    "check_vcf",
    "detect_format",
    "get_field",
    "infer_build",
    "liftover",
    "metadata_path",
    "normalise_icd10",
    "normalise_icd9",
    "parse_column",
    "parse_header",
    "read_bmff_provenance",
    "read_bmff_table",
    "read_chain",
    "read_data_dictionary",
    "read_diagnoses",
    "read_diagnosis_table",
    "read_gwas_ssf_metadata",
    "read_oxford_sample",
    "read_kinship",
    "read_long_diagnoses",
    "read_parquet_file",
    "read_participant_table",
    "read_sample_list",
    "read_sumstats",
    "read_text_table",
    "read_ukb",
    "read_ukb_header",
    "read_withdrawals",
    "remove_withdrawn",
    "run_participants",
    "run_sample_qc",
    "unrelated_set",
    "write_bmff_table",
    "write_diagnoses",
    "write_gwas_ssf",
    "write_participant_table",
    "write_sample_list",
]


#: Result tables of the PheWAS, MR and enrichment stages (:mod:`bma_genetics.io.results`).
_RESULTS = (
    "read_gene_results",
    "read_gene_set_results",
    "read_mr_results",
    "read_phewas_results",
    "write_gene_results",
    "write_gene_set_results",
    "write_mr_results",
    "write_phewas_results",
)
__all__ += list(_RESULTS)

#: LOCO predictions in REGENIE's layout (:mod:`bma_genetics.io.loco`).
_LOCO = ("read_loco_predictions", "write_loco_predictions", "loco_prediction_models")
__all__ += list(_LOCO)


#: Survival tables: hazard ratios, Kaplan-Meier, risk table (:mod:`bma_genetics.io.survival`).
_SURVIVAL = ("SURVIVAL_TABLES", "read_survival_results", "write_survival_results")
__all__ += list(_SURVIVAL)

#: Fine-mapping, colocalisation and SMR tables, and eQTL summary statistics (:mod:`bma_genetics.io.finemap`).
_FINEMAP = ("eqtl_layout", "read_eqtl", "read_finemap_results", "read_gwas_loci", "write_eqtl", "write_finemap_results")
__all__ += list(_FINEMAP)


#: The per-ROI statistics table of the optimat BMFF method and the test-retest ICC table
#: (:mod:`bma_genetics.io.bmff`).
_ROI_STATS = ("ICC_SCHEMA", "ROI_STATS_SCHEMA", "read_icc_table", "read_roi_stats", "roi_stats_path",
              "write_icc_table", "write_roi_stats")
__all__ += list(_ROI_STATS)


#: The calvarial BMA table (:mod:`bma_genetics.io.calvarial`) and head T1 images (:mod:`bma_genetics.io.head`).
_CALVARIAL = ("CALVARIAL_SCHEMA", "CALVARIAL_TRAIT", "combine_calvarial", "read_calvarial_table",
              "write_calvarial_table")
_HEAD = ("HeadVolume", "head_images", "read_head_image", "write_head_dicom_zip", "write_head_nifti_zip")
__all__ += list(_CALVARIAL) + list(_HEAD)


#: Each group of names above and the module that defines it (loaded on first use).
_GROUPS = {
    "bma_genetics.io.calvarial": _CALVARIAL,
    "bma_genetics.io.head": _HEAD,
    "bma_genetics.io.bmff": _ROI_STATS,
    "bma_genetics.io.survival": _SURVIVAL,
    "bma_genetics.io.results": _RESULTS,
    "bma_genetics.io.loco": _LOCO,
    "bma_genetics.io.finemap": _FINEMAP,
}


def __getattr__(name: str) -> Any:
    for module, names in _GROUPS.items():
        if name in names:
            return getattr(importlib.import_module(module), name)
    if name in __all__:
        return getattr(importlib.import_module("bma_genetics.io.api"), name)
    raise AttributeError(f"module 'bma_genetics.io' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
