"""Dixon MRI -> bone-marrow fat fraction (BMFF): U-Net segmentation, fat fraction and image QC."""

from bma_genetics.phenotypes.api import (
    compare_to_truth,
    load_model,
    predict_bmff,
    run_bmff,
    train_unet,
    volume_reference,
)
from bma_genetics.phenotypes.dixon_io import DixonVolume, read_dixon_zip, read_nifti, write_nifti

__all__ = [
    "DixonVolume",
    "compare_to_truth",
    "load_model",
    "predict_bmff",
    "read_dixon_zip",
    "read_nifti",
    "run_bmff",
    "train_unet",
    "volume_reference",
    "write_nifti",
]
