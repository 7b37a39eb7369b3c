"""Public API of the UK Biobank data layer (re-exported by :mod:`bma_genetics.io`)."""

from __future__ import annotations

from bma_genetics.io._schema import read_parquet_file, read_text_table
from bma_genetics.io.bmff import (
    BMFF_SCHEMA,
    read_bmff_provenance,
    read_bmff_table,
    write_bmff_table,
)
from bma_genetics.io.builds import (
    GENOME_BUILDS,
    build_of,
    check_same_build,
    infer_build,
    liftover,
    read_chain,
)
from bma_genetics.io.covariates import (
    CATEGORICAL_COVARIATES,
    PARTICIPANT_COLUMNS,
    PARTICIPANT_SCHEMA,
    build_participant_table,
    design_covariates,
    read_participant_table,
    write_participant_table,
)
from bma_genetics.io.diagnoses import (
    DIAGNOSIS_SCHEMA,
    normalise_icd9,
    normalise_icd10,
    read_diagnoses,
    read_diagnosis_table,
    read_long_diagnoses,
    write_diagnoses,
)
from bma_genetics.io.fields import (
    BUILTIN_CODINGS,
    BUILTIN_FIELDS,
    IMAGING_CENTRES,
    Coding,
    Dictionary,
    FieldInfo,
    FieldKey,
    parse_column,
    parse_header,
    read_data_dictionary,
)
from bma_genetics.io.genotypes import check_bgen, check_plink, check_vcf, read_oxford_sample
from bma_genetics.io.participants import PARTICIPANT_FIELDS, ParticipantsResult, run_participants
from bma_genetics.io.sample_qc import (
    QC_STEPS,
    assign_ancestry,
    read_kinship,
    run_sample_qc,
    unrelated_set,
)
from bma_genetics.io.samples import read_sample_list, write_sample_list
from bma_genetics.io.sumstats import (
    SUMSTATS_COLUMNS,
    SUMSTATS_FORMATS,
    SumstatsFormat,
    detect_format,
    metadata_path,
    read_gwas_ssf_metadata,
    read_sumstats,
    write_gwas_ssf,
)
from bma_genetics.io.ukb import UKBData, get_field, read_ukb, read_ukb_header
from bma_genetics.io.withdrawals import read_withdrawals, remove_withdrawn

__all__ = [
    "BMFF_SCHEMA",
    "BUILTIN_CODINGS",
    "BUILTIN_FIELDS",
    "Coding",
    "DIAGNOSIS_SCHEMA",
    "Dictionary",
    "FieldInfo",
    "FieldKey",
    "GENOME_BUILDS",
    "build_of",
    "check_same_build",
    "IMAGING_CENTRES",
    "CATEGORICAL_COVARIATES",
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
    "build_participant_table",
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
    "read_sample_list",
    "write_sample_list",
]
