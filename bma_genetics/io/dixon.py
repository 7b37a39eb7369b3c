"""Reading and writing Dixon MRI: UK Biobank field 20201 DICOM zips and NIfTI.

A 20201 zip holds one participant's neck-to-knee Dixon acquisition: several *stations* (table
positions), each with four series (water, fat, in-phase, opposed-phase), one DICOM file per
axial slice, plus a manifest. Stations overlap along the body axis. :func:`read_dixon_zip`
stitches the stations into one volume **from the DICOM geometry** -- ``ImageOrientationPatient``
(the slice normal), ``ImagePositionPatient`` (each slice's position along that normal) and
``PixelSpacing`` -- never from file names, file order, instance numbers or station numbers.

Volumes are held as ``(slice, row, column)`` arrays in DICOM patient coordinates (LPS):
axis 0 runs along the slice normal in increasing position (for axial images: inferior to
superior), rows run posterior (``+y``), columns run to the patient's left (``+x``).
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bma_genetics._check import fail
from bma_genetics.errors import InputError

log = logging.getLogger(__name__)

#: Series kinds, as the suffix of UK Biobank's SeriesDescription (``Dixon_noBH_W``, ...).
SERIES_KINDS: tuple[str, ...] = ("water", "fat", "in", "opp")
_SUFFIX = {"w": "water", "f": "fat", "in": "in", "opp": "opp", "water": "water", "fat": "fat"}
#: Tolerance (mm) when comparing in-plane geometry between stations.
_GEOM_TOL_MM = 0.5


@dataclass
class DixonVolume:
    """A stitched Dixon volume (water and fat, optionally in/opposed phase).

    Attributes
    ----------
    eid : str
        Participant id (from the zip name ``{eid}_20201_2_0.zip`` or the NIfTI name).
    water, fat : ndarray of shape (n_slices, n_rows, n_cols), float32
        Magnitude images; slices ordered by position along the slice normal.
    spacing : tuple of float
        Voxel size in mm: (slice spacing, row spacing, column spacing).
    origin : ndarray of shape (3,)
        LPS position (mm) of the centre of voxel (0, 0, 0).
    directions : ndarray of shape (3, 3)
        Unit vectors (rows of the matrix) of the slice normal, the column direction (down the
        rows) and the row direction (along a row), in LPS.
    station : ndarray of shape (n_slices,), int
        Index (0 = lowest along the normal) of the station each slice was taken from; -1 for
        slices missing from every station (a gap).
    n_stations : int
        Number of stations found.
    in_phase, opposed_phase : ndarray or None
        The two-point Dixon source echoes when present.
    source : str
        Where the volume came from.
    """

    eid: str
    water: np.ndarray
    fat: np.ndarray
    spacing: tuple[float, float, float]
    origin: np.ndarray = field(default_factory=lambda: np.zeros(3))
    directions: np.ndarray = field(default_factory=lambda: np.array([[0.0, 0, 1], [0, 1, 0], [1, 0, 0]]))
    station: np.ndarray | None = None
    n_stations: int = 1
    in_phase: np.ndarray | None = None
    opposed_phase: np.ndarray | None = None
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.water.shape)  # type: ignore[return-value]

    @property
    def gap_slices(self) -> np.ndarray:
        """Boolean mask of slices no station covered."""
        if self.station is None:
            return np.zeros(self.water.shape[0], dtype=bool)
        return self.station < 0

    def affine_lps(self) -> np.ndarray:
        """4x4 matrix mapping (slice, row, col, 1) voxel indices to LPS millimetres."""
        a = np.eye(4)
        for axis in range(3):
            a[:3, axis] = self.directions[axis] * self.spacing[axis]
        a[:3, 3] = self.origin
        return a


def eid_from_name(path: str | Path) -> str:
    """The participant id in a UK Biobank bulk file name (``1234567_20201_2_0.zip``)."""
    name = Path(path).name
    m = re.match(r"^([^_/.]+)_20201_", name)
    if m:
        return m.group(1)
    m = re.match(r"^([^_/.]+)_(water|fat|labels|in|opp)\.nii(\.gz)?$", name)
    if m:
        return m.group(1)
    return name.split(".")[0].split("_")[0]


def instance_from_name(path: str | Path) -> int | None:
    """The UK Biobank instance in a bulk file name (``1234567_20201_3_0.zip`` -> 3), else None."""
    m = re.match(r"^[^_/.]+_20201_(\d+)_\d+\.zip$", Path(path).name)
    return int(m.group(1)) if m else None


# --------------------------------------------------------------------------------------- writing
def _uid(*parts: object) -> str:
    from pydicom.uid import generate_uid

    # Deterministic UIDs: the same simulated participant gives byte-identical files.
    return generate_uid(entropy_srcs=[str(p) for p in parts])


def _slice_dataset(
    pixels: np.ndarray,
    *,
    eid: str,
    study_uid: str,
    series_uid: str,
    series_number: int,
    description: str,
    instance: int,
    position: np.ndarray,
    row_dir: np.ndarray,
    col_dir: np.ndarray,
    pixel_spacing: tuple[float, float],
    slice_thickness: float,
):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage

    sop_uid = _uid(series_uid, instance)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = _uid(study_uid, "frame")
    ds.Modality = "MR"
    ds.PatientID = eid
    ds.PatientName = eid
    ds.SeriesDescription = description
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "DIXON", description.rsplit("_", 1)[-1].upper()]
    ds.ImagePositionPatient = [f"{v:.4f}" for v in position]
    ds.ImageOrientationPatient = [f"{v:.6f}" for v in (*row_dir, *col_dir)]
    ds.PixelSpacing = [f"{pixel_spacing[0]:.4f}", f"{pixel_spacing[1]:.4f}"]
    ds.SliceThickness = f"{slice_thickness:.3f}"
    ds.SliceLocation = f"{position[2]:.4f}"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.PixelData = np.ascontiguousarray(pixels, dtype="<u2").tobytes()
    return ds


_PH_UID = "2.25." + "9" * 39
_PH_Z = "+999999.9999"
_PH_LOC = "+888888.8888"
_PH_INST = "77777"


def _slice_uid(series_uid: str, instance: int) -> str:
    import hashlib

    # Fixed-length UIDs ("2.25." + a 39-digit integer) so slices can be written by patching a
    # per-series template (pydicom per slice costs ~6 ms; a participant has ~800 slices).
    h = int.from_bytes(hashlib.sha256(f"{series_uid}/{instance}".encode()).digest()[:16], "big")
    return "2.25." + str(10**38 + h % (9 * 10**38))


def _series_template(rows: int, cols: int, **kwargs: Any) -> bytes:
    """DICOM bytes for one slice of a series with placeholders for the per-slice values."""
    ds = _slice_dataset(np.zeros((rows, cols), dtype=np.uint16), **kwargs)
    ds.SOPInstanceUID = _PH_UID
    ds.file_meta.MediaStorageSOPInstanceUID = _PH_UID
    pos = kwargs["position"]
    ds.ImagePositionPatient = [f"{pos[0]:+012.4f}", f"{pos[1]:+012.4f}", _PH_Z]
    ds.SliceLocation = _PH_LOC
    ds.InstanceNumber = _PH_INST
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def write_dixon_zip(
    path: str | Path,
    eid: str,
    stations: list[dict[str, Any]],
    *,
    spacing: tuple[float, float, float],
    origin_xy: tuple[float, float],
    file_order_seed: int | None = None,
    visit: int = 2,
) -> Path:
    """Write a 20201-style zip: per station four series of axial slices plus ``manifest.csv``.

    Parameters
    ----------
    path : path
        Output zip (written atomically).
    eid : str
        Participant id.
    stations : list of dict
        One dict per station with ``z`` (ndarray of slice positions along +z, mm) and some of
        ``water``, ``fat``, ``in``, ``opp`` (arrays of shape (n_slices, rows, cols), values
        0-65535; a missing key means that series is absent).
    spacing : (dz, dy, dx)
        Slice spacing and pixel spacing (row spacing = dy, column spacing = dx) in mm.
    origin_xy : (x0, y0)
        LPS x, y of the first pixel's centre.
    file_order_seed : int, optional
        Shuffle the order of members in the zip (readers must not rely on it).
    visit : int, default=2
        UK Biobank instance of the scan (2 = first imaging visit, 3 = the repeat imaging
        visit): another visit is another DICOM study (its own StudyInstanceUID).
    """

    dz, dy, dx = spacing
    study_uid = _uid("study", eid) if visit == 2 else _uid("study", eid, visit)
    desc = {"water": "W", "fat": "F", "in": "in", "opp": "opp"}
    members: list[tuple[str, bytes]] = []
    manifest = ["filename,patientid,series description,series number,station,instance number"]
    for s_idx, st in enumerate(stations):
        zs = np.asarray(st["z"], dtype=float)
        for k_idx, kind in enumerate(SERIES_KINDS):
            if kind not in st:
                continue
            vol = np.clip(np.rint(st[kind]), 0, 65535).astype("<u2")
            series_number = 10 * (s_idx + 1) + k_idx + 1
            # UK Biobank: the upper stations are breath-hold (BH), the lower free-breathing.
            description = f"Dixon_{'BH' if s_idx < 2 and len(stations) > 2 else 'noBH'}_{desc[kind]}"
            series_uid = _uid(study_uid, series_number)
            template = _series_template(
                vol.shape[1], vol.shape[2], eid=eid, study_uid=study_uid, series_uid=series_uid,
                series_number=series_number, description=description, instance=1,
                position=np.array([origin_xy[0], origin_xy[1], 0.0]),
                row_dir=np.array([1.0, 0.0, 0.0]), col_dir=np.array([0.0, 1.0, 0.0]),
                pixel_spacing=(dy, dx), slice_thickness=dz,
            )
            n_px = vol.shape[1] * vol.shape[2] * 2
            header = template[:-n_px]
            for i, z in enumerate(zs):
                uid = _slice_uid(series_uid, i + 1)
                h = (
                    header.replace(_PH_UID.encode(), uid.encode())
                    .replace(_PH_Z.encode(), f"{z:+012.4f}".encode())
                    .replace(_PH_LOC.encode(), f"{z:+012.4f}".encode())
                    .replace(_PH_INST.encode(), f"{i + 1:05d}".encode())
                )
                name = f"{uid}.dcm"
                members.append((name, h + vol[i].tobytes()))
                manifest.append(f"{name},{eid},{description},{series_number},{s_idx + 1},{i + 1}")
    if file_order_seed is not None:
        order = np.random.default_rng(file_order_seed).permutation(len(members))
        members = [members[i] for i in order]
    return write_member_zip(path, manifest, members)


def write_member_zip(path: str | Path, manifest: list[str], members: list[tuple[str, bytes]]) -> Path:
    """A zip of DICOM members plus ``manifest.csv`` (fixed timestamps: the same content gives the
    same bytes), written atomically."""
    from bma_genetics._atomic import atomic_path

    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            zf.writestr(zipfile.ZipInfo("manifest.csv", date_time=(2020, 1, 1, 0, 0, 0)), "\n".join(manifest) + "\n")
            for name, data in members:
                info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, data, compresslevel=1)
    return Path(path)


# --------------------------------------------------------------------------------------- reading
def _series_kind(description: str, image_type: Any) -> str | None:
    suffix = str(description).strip().rsplit("_", 1)[-1].lower()
    if suffix in _SUFFIX:
        return _SUFFIX[suffix]
    flags = [str(t).upper() for t in (image_type or [])]
    for flag, kind in (("W", "water"), ("F", "fat"), ("IN_PHASE", "in"), ("OUT_PHASE", "opp")):
        if flag in flags:
            return kind
    return None


@dataclass
class _Slice:
    series: str
    position: np.ndarray
    row_dir: np.ndarray
    col_dir: np.ndarray
    spacing: tuple[float, float]
    pixels: np.ndarray


def _read_slices(path: Path) -> dict[str, list[_Slice]]:
    import pydicom

    where = "read_dixon_zip/path"
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise fail(where, f"{path} is not a readable zip ({exc})") from None
    by_kind: dict[str, list[_Slice]] = defaultdict(list)
    with zf:
        names = [n for n in zf.namelist() if not n.endswith("/") and not Path(n).name.lower().startswith("manifest")]
        if not names:
            raise fail(where, f"{path} contains no DICOM files")
        for name in names:
            try:
                data = zf.read(name)
                ds = pydicom.dcmread(io.BytesIO(data))
                kind = _series_kind(getattr(ds, "SeriesDescription", ""), getattr(ds, "ImageType", None))
                if kind is None:
                    continue
                iop = np.asarray([float(v) for v in ds.ImageOrientationPatient])
                px = ds.pixel_array.astype(np.float32)
                slope = float(getattr(ds, "RescaleSlope", 1) or 1)
                intercept = float(getattr(ds, "RescaleIntercept", 0) or 0)
                by_kind[kind].append(
                    _Slice(
                        series=str(ds.SeriesInstanceUID),
                        position=np.asarray([float(v) for v in ds.ImagePositionPatient]),
                        row_dir=iop[:3],
                        col_dir=iop[3:],
                        spacing=(float(ds.PixelSpacing[0]), float(ds.PixelSpacing[1])),
                        pixels=px * slope + intercept,
                    )
                )
            except (zipfile.BadZipFile, OSError, EOFError, KeyError, AttributeError, ValueError) as exc:
                raise fail(where, f"{path}: member {name} is unreadable ({type(exc).__name__}: {exc})") from None
            except Exception as exc:  # zlib.error, pydicom's InvalidDicomError and friends
                raise fail(where, f"{path}: member {name} is unreadable ({type(exc).__name__}: {exc})") from None
    return by_kind


def _stitch(slices: list[_Slice], where: str) -> tuple[np.ndarray, dict[str, Any]]:
    """Place the slices of one kind (all stations) on a common grid along the slice normal."""
    ref = slices[0]
    row_dir, col_dir = ref.row_dir, ref.col_dir
    normal = np.cross(row_dir, col_dir)
    rows, cols = ref.pixels.shape
    for s in slices:
        if not (np.allclose(s.row_dir, row_dir, atol=1e-3) and np.allclose(s.col_dir, col_dir, atol=1e-3)):
            raise fail(where, f"series {s.series} has ImageOrientationPatient {[*s.row_dir, *s.col_dir]} "
                              f"differing from {[*row_dir, *col_dir]}; oblique stations are not supported")
        if s.pixels.shape != (rows, cols) or not np.allclose(s.spacing, ref.spacing, atol=1e-3):
            raise fail(where, f"series {s.series} has matrix {s.pixels.shape} / spacing {s.spacing}, "
                              f"expected {(rows, cols)} / {ref.spacing}; resample the stations first")
    # In-plane offsets must agree, else the stations do not overlay.
    inplane = np.array([[s.position @ row_dir, s.position @ col_dir] for s in slices])
    if np.ptp(inplane[:, 0]) > _GEOM_TOL_MM or np.ptp(inplane[:, 1]) > _GEOM_TOL_MM:
        raise fail(where, f"stations are shifted in-plane by up to {np.ptp(inplane, axis=0).round(2).tolist()} mm; "
                          "in-plane registration is not supported")
    pos = np.array([s.position @ normal for s in slices])
    series_ids = sorted({s.series for s in slices}, key=lambda sid: float(np.mean(pos[[s.series == sid for s in slices]])))
    station_of = {sid: i for i, sid in enumerate(series_ids)}
    steps = []
    extent = {}
    for sid in series_ids:
        p = np.sort(pos[[s.series == sid for s in slices]])
        extent[sid] = (p[0], p[-1])
        if len(p) > 1:
            steps.append(np.diff(p))
    dz = float(np.median(np.concatenate(steps))) if steps else 1.0
    if dz <= 0:
        raise fail(where, "duplicate slice positions within a series")
    lo, hi = float(pos.min()), float(pos.max())
    n = int(round((hi - lo) / dz)) + 1
    grid = lo + dz * np.arange(n)
    vol = np.zeros((n, rows, cols), dtype=np.float32)
    station = np.full(n, -1, dtype=int)
    best = np.full(n, -np.inf)
    for s, p in zip(slices, pos, strict=True):
        k = int(round((p - lo) / dz))
        if abs(grid[k] - p) > 0.25 * dz:
            continue  # off-grid slice (stations with different slice grids): keep the on-grid one
        a, b = extent[s.series]
        # In overlaps take the slice deepest inside its station: station edges carry the worst
        # coil sensitivity and gradient non-linearity.
        depth = min(p - a, b - p)
        if depth > best[k]:
            best[k] = depth
            vol[k] = s.pixels
            station[k] = station_of[s.series]
    origin = slices[int(np.argmin(pos))].position.copy()
    info = {
        "dz": dz,
        "origin": origin,
        "directions": np.stack([normal, col_dir, row_dir]),
        "spacing_rc": ref.spacing,
        "station": station,
        "n_stations": len(series_ids),
    }
    return vol, info


def read_dixon_zip(path: str | Path, *, eid: str | None = None) -> DixonVolume:
    """Read one UK Biobank 20201 zip and stitch its stations into one volume.

    Parameters
    ----------
    path : path
        ``{eid}_20201_2_0.zip`` with per-station water/fat/in/opp DICOM series.
    eid : str, optional
        Participant id; default from the file name.

    Returns
    -------
    DixonVolume
        Water and fat (and in/opposed phase when present) on one grid; slices missing from every
        station (a dropped station in the middle) are zero and marked ``station == -1``.

    Raises
    ------
    InputError
        Unreadable zip or member, no water or fat series, or stations whose geometry cannot be
        overlaid (different orientation, matrix or in-plane position).

    Examples
    --------
    >>> vol = read_dixon_zip("images/20201/1000001_20201_2_0.zip")  # doctest: +SKIP
    >>> vol.water.shape, vol.spacing  # doctest: +SKIP
    ((176, 112, 144), (3.0, 2.2, 2.2))
    """
    path = Path(path)
    where = "read_dixon_zip/path"
    if not path.exists():
        raise fail(where, f"no such file {path}")
    by_kind = _read_slices(path)
    for kind in ("water", "fat"):
        if not by_kind.get(kind):
            raise fail(where, f"{path} has no {kind} series (found {sorted(by_kind)})")
    vols: dict[str, np.ndarray] = {}
    info_w: dict[str, Any] = {}
    for kind, slices in by_kind.items():
        vols[kind], info = _stitch(slices, where)
        if kind == "water":
            info_w = info
    if vols["fat"].shape != vols["water"].shape:
        raise fail(where, f"{path}: fat {vols['fat'].shape} and water {vols['water'].shape} cover different extents")
    spacing = (info_w["dz"], info_w["spacing_rc"][0], info_w["spacing_rc"][1])
    return DixonVolume(
        eid=eid or eid_from_name(path),
        water=vols["water"],
        fat=vols["fat"],
        spacing=spacing,
        origin=info_w["origin"],
        directions=info_w["directions"],
        station=info_w["station"],
        n_stations=info_w["n_stations"],
        in_phase=vols.get("in") if vols.get("in", np.empty(0)).shape == vols["water"].shape else None,
        opposed_phase=vols.get("opp") if vols.get("opp", np.empty(0)).shape == vols["water"].shape else None,
        source=str(path),
    )


# ----------------------------------------------------------------------------------------- NIfTI
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def write_nifti(path: str | Path, array: np.ndarray, vol: DixonVolume, *, dtype: Any = np.float32) -> Path:
    """Write a ``(slice, row, col)`` array with ``vol``'s geometry as NIfTI (RAS affine)."""
    import nibabel as nib

    from bma_genetics._atomic import atomic_path

    # NIfTI voxel axes (i, j, k) = (col, row, slice): transpose and permute the affine to match.
    a = vol.affine_lps()[:, [2, 1, 0, 3]]
    img = nib.Nifti1Image(np.asarray(array, dtype=dtype).transpose(2, 1, 0), _LPS_TO_RAS @ a)
    img.header.set_xyzt_units("mm")
    with atomic_path(path) as tmp:
        nib.save(img, str(tmp))
    return Path(path)


def _load_nifti_lps(path: Path, where: str) -> tuple[np.ndarray, np.ndarray]:
    import nibabel as nib

    try:
        img = nib.load(str(path))
        data = np.asarray(img.dataobj, dtype=np.float32)
    except Exception as exc:
        raise fail(where, f"{path} is not a readable NIfTI ({type(exc).__name__}: {exc})") from None
    return image_to_lps(img, data, path, where)


def image_to_lps(img: Any, data: np.ndarray, path: Any, where: str) -> tuple[np.ndarray, np.ndarray]:
    """A loaded 3-D NIfTI's ``data`` as a ``(slice, row, col)`` LPS array, and its reoriented affine."""
    from nibabel.orientations import (
        apply_orientation,
        axcodes2ornt,
        inv_ornt_aff,
        io_orientation,
        ornt_transform,
    )

    if data.ndim != 3:
        raise fail(where, f"{path} has {data.ndim} dimensions, expected 3")
    # Reorient so that array axes are (x: to the left, y: posterior, z: superior) = LPS.
    trans = ornt_transform(io_orientation(img.affine), axcodes2ornt(("L", "P", "S")))
    data = apply_orientation(data, trans)
    affine = img.affine @ inv_ornt_aff(trans, img.shape)
    return data.transpose(2, 1, 0).copy(), affine


def read_nifti(water: str | Path, fat: str | Path, *, eid: str | None = None) -> DixonVolume:
    """Read a water and a fat NIfTI (any orientation; reoriented to the LPS slice layout).

    A NIfTI pair carries no station structure: the volume counts as one station.
    """
    where = "read_nifti/water"
    w, aff = _load_nifti_lps(Path(water), where)
    f, _ = _load_nifti_lps(Path(fat), "read_nifti/fat")
    if w.shape != f.shape:
        raise fail("read_nifti/fat", f"{fat} has shape {f.shape}, water {water} has {w.shape}")
    ras_to_lps = _LPS_TO_RAS
    lps = ras_to_lps @ aff  # columns: x(col), y(row), z(slice) axes
    zooms = np.linalg.norm(lps[:3, :3], axis=0)
    dirs = (lps[:3, :3] / zooms).T  # rows: x, y, z directions
    return DixonVolume(
        eid=eid or eid_from_name(water),
        water=w,
        fat=f,
        spacing=(float(zooms[2]), float(zooms[1]), float(zooms[0])),
        origin=lps[:3, 3].copy(),
        directions=np.stack([dirs[2], dirs[1], dirs[0]]),
        station=np.zeros(w.shape[0], dtype=int),
        n_stations=1,
        source=str(water),
    )


def read_label_nifti(path: str | Path) -> np.ndarray:
    """A label map written by :func:`write_nifti`, as an int16 ``(slice, row, col)`` array."""
    data, _ = _load_nifti_lps(Path(path), "read_label_nifti/path")
    return np.rint(data).astype(np.int16)


# ---------------------------------------------------------------------------------- discovery
def find_images(images: list[str | Path] | str | Path, *, instance: int | None = 2) -> list[tuple[str, str, Path]]:
    """Resolve ``--images`` arguments to ``(eid, kind, path)`` items.

    Each argument is a 20201 zip, a ``*_water.nii.gz`` file, or a folder searched (recursively)
    for both. ``kind`` is ``"zip"`` or ``"nifti"`` (the fat file is ``{eid}_fat.nii.gz`` beside
    the water file). An eid found as both keeps the zip.

    ``instance`` keeps the zips of one UK Biobank visit (``{eid}_20201_{instance}_0.zip``; 2 =
    first imaging visit, 3 = repeat imaging); zips and NIfTI files whose name carries no
    instance count as instance 2. None keeps every file (an eid with zips of several visits
    then keeps its first visit's).
    """
    if instance is not None and (isinstance(instance, bool) or not isinstance(instance, int) or instance < 0):
        raise InputError(f"find_images/instance: expected an integer >= 0 or None, found {instance!r}")
    if isinstance(images, (str, Path)):
        images = [images]
    found: dict[str, tuple[str, str, Path]] = {}
    for arg in images:
        p = Path(arg)
        if p.is_dir():
            candidates = sorted(p.rglob("*_20201_*.zip")) + sorted(p.rglob("*_water.nii*"))
        elif p.exists():
            candidates = [p]
        else:
            raise InputError(f"find_images/images: no such file or folder {p}")
        for c in candidates:
            visit = instance_from_name(c)
            if instance is not None and (2 if visit is None else visit) != instance and p != c:
                continue
            if c.suffix == ".zip":
                e = eid_from_name(c)
                prev = found.get(e)
                if instance is None and prev is not None and prev[1] == "zip" and \
                        (instance_from_name(prev[2]) or 2) < (visit or 2):
                    continue
                found[e] = (e, "zip", c)
            elif "_water.nii" in c.name and (instance in (None, 2) or p == c):
                e = eid_from_name(c)
                found.setdefault(e, (e, "nifti", c))
            elif p == c:
                raise InputError(f"find_images/images: {c} is neither a 20201 zip nor a *_water.nii[.gz] file")
    return sorted(found.values(), key=lambda t: t[0])


def read_any(eid: str, kind: str, path: Path) -> DixonVolume:
    """Read an item returned by :func:`find_images`."""
    if kind == "zip":
        return read_dixon_zip(path, eid=eid)
    fat = Path(str(path).replace("_water.nii", "_fat.nii"))
    if not fat.exists():
        raise InputError(f"read_any/path: {path} has no fat image {fat.name} beside it")
    return read_nifti(path, fat, eid=eid)
