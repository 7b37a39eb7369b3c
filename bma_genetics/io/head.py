"""Head T1 images: UK Biobank field 20216 (DICOM zip) and field 20252 (NIfTI zip).

UK Biobank ships the structural head T1 twice: ``{eid}_20216_2_0.zip`` holds the DICOM slices of
the acquisition, ``{eid}_20252_2_0.zip`` the processed NIfTI (``T1/T1.nii.gz`` among other
files). Both are read here into one :class:`HeadVolume`: a ``(slice, row, column)`` array in
DICOM patient coordinates (LPS; slices inferior to superior, rows posterior, columns to the
patient's left), placed from the DICOM geometry (``ImagePositionPatient`` along the slice normal,
``PixelSpacing``) or the NIfTI affine, never from file names or order.
"""

from __future__ import annotations

import gzip
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bma_genetics._check import fail
from bma_genetics.io.dixon import (
    _LPS_TO_RAS,
    _series_template,
    _slice_uid,
    _uid,
    image_to_lps,
    write_member_zip,
)

#: UK Biobank fields of the head T1: DICOM and NIfTI zips.
FIELD_DICOM = "20216"
FIELD_NIFTI = "20252"
#: Member of a 20252 zip holding the T1 (UK Biobank's layout).
NIFTI_MEMBER = "T1/T1.nii.gz"
_AXIAL_TOL = 1e-3


@dataclass
class HeadVolume:
    """One head T1 on a regular grid.

    Attributes
    ----------
    eid : str
    t1 : ndarray of shape (n_slices, n_rows, n_cols), float32
    spacing : (float, float, float)
        Slice, row and column spacing in mm.
    origin : ndarray of shape (3,)
        LPS position (mm) of voxel (0, 0, 0).
    source : str
    """

    eid: str
    t1: np.ndarray
    spacing: tuple[float, float, float]
    origin: np.ndarray = field(default_factory=lambda: np.zeros(3))
    source: str = ""

    def affine_lps(self) -> np.ndarray:
        """4x4: (slice, row, col, 1) -> LPS mm (axial: slice along +z, row along +y, column along +x)."""
        a = np.zeros((4, 4))
        a[2, 0], a[1, 1], a[0, 2] = self.spacing
        a[:3, 3] = self.origin
        a[3, 3] = 1
        return a


def head_eid(path: str | Path) -> str:
    """The participant id in a head-image file name (``1234567_20252_2_0.zip``)."""
    m = re.match(r"^([^_/.]+)_(?:20216|20252)_", Path(path).name)
    return m.group(1) if m else Path(path).name.split("_")[0].split(".")[0]


def write_head_dicom_zip(path: str | Path, vol: HeadVolume) -> Path:
    """Write a field-20216-style zip: one axial DICOM slice per file plus ``manifest.csv``.

    Intensities are rounded to unsigned 16-bit (values 0-65535).
    """
    dz, dy, dx = vol.spacing
    study_uid = _uid("study-head", vol.eid)
    series_uid = _uid(study_uid, 1)
    data = np.clip(np.rint(vol.t1), 0, 65535).astype("<u2")
    template = _series_template(
        data.shape[1], data.shape[2], eid=vol.eid, study_uid=study_uid, series_uid=series_uid, series_number=1,
        description="T1_p2_1mm_fov256_sag_TI_880", instance=1,
        position=np.array([vol.origin[0], vol.origin[1], 0.0]), row_dir=np.array([1.0, 0.0, 0.0]),
        col_dir=np.array([0.0, 1.0, 0.0]), pixel_spacing=(dy, dx), slice_thickness=dz,
    )
    header = template[:-data.shape[1] * data.shape[2] * 2]
    manifest = ["filename,patientid,series description,series number,instance number"]
    members = []
    for i in range(data.shape[0]):
        z = vol.origin[2] + i * dz
        uid = _slice_uid(series_uid, i + 1)
        h = (header.replace(b"2.25." + b"9" * 39, uid.encode())
             .replace(b"+999999.9999", f"{z:+012.4f}".encode())
             .replace(b"+888888.8888", f"{z:+012.4f}".encode())
             .replace(b"77777", f"{i + 1:05d}".encode()))
        members.append((f"{uid}.dcm", h + data[i].tobytes()))
        manifest.append(f"{uid}.dcm,{vol.eid},T1,1,{i + 1}")
    return write_member_zip(path, manifest, members)


def write_head_nifti_zip(path: str | Path, vol: HeadVolume) -> Path:
    """Write a field-20252-style zip holding ``T1/T1.nii.gz`` (RAS affine; intensities rounded to
    unsigned 16-bit, as in the DICOM zip, so both files of a head hold the same values)."""
    import nibabel as nib

    from bma_genetics._atomic import atomic_path

    a = vol.affine_lps()[:, [2, 1, 0, 3]]
    data = np.clip(np.rint(vol.t1), 0, 65535).astype(np.uint16)
    img = nib.Nifti1Image(data.transpose(2, 1, 0), _LPS_TO_RAS @ a)
    img.header.set_xyzt_units("mm")
    blob = gzip.compress(img.to_bytes(), compresslevel=1, mtime=0)
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
            zf.writestr(zipfile.ZipInfo(NIFTI_MEMBER, date_time=(2020, 1, 1, 0, 0, 0)), blob)
    return Path(path)


def _read_dicom_zip(path: Path, eid: str, where: str) -> HeadVolume:
    import pydicom

    slices = []
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise fail(where, f"{path} is not a readable zip ({exc})") from None
    with zf:
        for name in zf.namelist():
            if name.endswith("/") or Path(name).name.lower().startswith("manifest"):
                continue
            try:
                ds = pydicom.dcmread(io.BytesIO(zf.read(name)))
                iop = np.array([float(v) for v in ds.ImageOrientationPatient])
                pos = np.array([float(v) for v in ds.ImagePositionPatient])
                px = ds.pixel_array.astype(np.float32) * float(getattr(ds, "RescaleSlope", 1) or 1) \
                    + float(getattr(ds, "RescaleIntercept", 0) or 0)
                sp = (float(ds.PixelSpacing[0]), float(ds.PixelSpacing[1]))
            except (OSError, EOFError, KeyError, AttributeError, ValueError, zipfile.BadZipFile) as exc:
                raise fail(where, f"{path}: member {name} is unreadable ({type(exc).__name__}: {exc})") from None
            except Exception as exc:  # zlib.error, pydicom's InvalidDicomError: a broken member, not a user value
                raise fail(where, f"{path}: member {name} is unreadable ({type(exc).__name__}: {exc})") from None
            if not np.allclose(iop, [1, 0, 0, 0, 1, 0], atol=_AXIAL_TOL):
                raise fail(where, f"{path}: member {name} is not axial (ImageOrientationPatient {iop.tolist()}); "
                                  "reformat the series to axial first")
            slices.append((pos, px, sp))
    if not slices:
        raise fail(where, f"{path} contains no DICOM slices")
    slices.sort(key=lambda s: s[0][2])
    z = np.array([s[0][2] for s in slices])
    dz = float(np.median(np.diff(z))) if len(z) > 1 else 1.0
    if len(z) > 1 and (dz <= 0 or np.ptp(np.diff(z)) > 0.01 * dz):
        raise fail(where, f"{path}: slices are not evenly spaced along z (steps {np.unique(np.round(np.diff(z), 3))[:5]})")
    shapes = {s[1].shape for s in slices}
    if len(shapes) != 1:
        raise fail(where, f"{path}: slices of different matrices {sorted(shapes)}")
    t1 = np.stack([s[1] for s in slices])
    return HeadVolume(eid, t1, (dz, *slices[0][2]), slices[0][0].copy(), str(path))


def _read_nifti_zip(path: Path, eid: str, where: str) -> HeadVolume:
    import nibabel as nib

    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.namelist()
            names = [n for n in members if n == NIFTI_MEMBER] or \
                    sorted(n for n in members if n.endswith("/" + NIFTI_MEMBER))
            if not names:
                # a 20252 zip also holds T1_brain (skull-stripped), masks and transforms: never guess
                seen = ", ".join(members[:20]) + (f", ... ({len(members)} members)" if len(members) > 20 else "")
                raise fail(where, f"{path} holds no {NIFTI_MEMBER} (members seen: {seen}); "
                                  "the head T1 must be the un-stripped T1/T1.nii.gz of field 20252")
            if len(names) > 1:
                raise fail(where, f"{path} holds several {NIFTI_MEMBER} members: {names}")
            blob = zf.read(names[0])
    except (zipfile.BadZipFile, OSError) as exc:
        raise fail(where, f"{path} is not a readable zip ({exc})") from None
    try:
        raw = gzip.decompress(blob) if names[0].endswith(".gz") else blob
        img = nib.Nifti1Image.from_bytes(raw)
        data = np.asarray(img.dataobj, dtype=np.float32)
    except (OSError, EOFError, ValueError) as exc:
        raise fail(where, f"{path}: {names[0]} is not a readable NIfTI ({exc})") from None
    arr, aff = image_to_lps(img, data, path, where)
    lps = _LPS_TO_RAS @ aff
    zooms = np.linalg.norm(lps[:3, :3], axis=0)
    return HeadVolume(eid, arr, (float(zooms[2]), float(zooms[1]), float(zooms[0])), lps[:3, 3].copy(), str(path))


def read_head_image(path: str | Path, *, eid: str | None = None) -> HeadVolume:
    """Read a head T1: a field-20216 DICOM zip or a field-20252 NIfTI zip (told apart by content).

    Parameters
    ----------
    path : path
        ``{eid}_20216_2_0.zip`` (axial DICOM slices) or ``{eid}_20252_2_0.zip`` (``T1/T1.nii.gz``).
    eid : str, optional
        Default from the file name.

    Returns
    -------
    HeadVolume

    Raises
    ------
    InputError
        Missing or unreadable file or member, non-axial or unevenly spaced DICOM slices.
    """
    p = Path(path)
    where = "read_head_image/path"
    if not p.is_file():
        raise fail(where, f"no such file {p}")
    eid = eid or head_eid(p)
    try:
        with zipfile.ZipFile(p) as zf:
            is_nifti = any(n.endswith((".nii.gz", ".nii")) for n in zf.namelist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise fail(where, f"{p} is not a readable zip ({exc})") from None
    return _read_nifti_zip(p, eid, where) if is_nifti else _read_dicom_zip(p, eid, where)


def head_images(folder: str | Path) -> dict[str, Path]:
    """eid -> head image in ``folder`` (``*_20252_*.zip`` preferred over ``*_20216_*.zip``)."""
    d = Path(folder)
    out: dict[str, Path] = {}
    for field_id in (FIELD_DICOM, FIELD_NIFTI):  # NIfTI last: it wins
        for z in sorted(d.rglob(f"*_{field_id}_*.zip")):
            out[head_eid(z)] = z
    return dict(sorted(out.items()))


