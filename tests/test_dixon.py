"""Synthetic Dixon phantom and the 20201 DICOM / NIfTI readers (stitching from geometry)."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from bma_genetics.errors import InputError
from bma_genetics.io.dixon import (
    read_dixon_zip,
    read_label_nifti,
    read_nifti,
    write_dixon_zip,
    write_nifti,
)
from bma_genetics.phenotypes.qc import image_qc
from bma_genetics.simulate.dixon import (
    LABELS,
    DixonGeometry,
    _stitch_stations,
    acquire_stations,
    random_site_truth,
    simulate_dixon_volume,
)

GEO = DixonGeometry()
REF = {"expected_stations": GEO.n_stations, "expected_coverage_mm": GEO.n_slices * GEO.spacing[0]}


@pytest.fixture(scope="module")
def phantom():
    truth = random_site_truth(np.random.default_rng(11))
    return truth, simulate_dixon_volume(truth, seed=12)


@pytest.fixture(scope="module")
def acquired(phantom, tmp_path_factory):
    """One clean acquisition written as a zip (stations listed bottom-first, members shuffled)."""
    _, sim = phantom
    d = tmp_path_factory.mktemp("dixon")
    path, stations, rec = _zip(d, sim, station_order=[1, 2, 0])
    return path, stations, rec, read_dixon_zip(path)


def _zip(tmp_path, sim, *, artefact=None, seed=3, eid="1000001", station_order=None):
    stations, rec = acquire_stations(sim, seed=seed, artefact=artefact)
    listed = stations[::-1] if station_order is None else [stations[i] for i in station_order]
    path = tmp_path / f"{eid}_20201_2_0.zip"
    write_dixon_zip(path, eid, listed, spacing=GEO.spacing, origin_xy=rec["origin_xy"], file_order_seed=seed)
    return path, stations, rec


def test_phantom_site_fat_fraction_equals_truth(phantom):
    # Closed form: the noise-free eroded-mask mean equals the requested truth at every site.
    truth, sim = phantom
    for k, v in truth.items():
        assert sim.site_ff[k] == pytest.approx(v, abs=1e-4), k
    counts = {LABELS[c]: int((sim.labels == c).sum()) for c in LABELS if LABELS[c] != "l6"}  # L6: six-lumbar spines only
    assert min(counts.values()) > 300, counts  # every site is present and not tiny
    assert sim.water.shape == (GEO.n_slices, GEO.rows, GEO.cols)


def test_zip_round_trip_stitches_from_geometry(tmp_path, phantom, acquired):
    _, sim = phantom
    # Stations listed out of order and members shuffled: the reader must use the geometry.
    path, stations, rec, vol = acquired
    expect, kept = _stitch_stations(stations, GEO)
    assert vol.eid == "1000001"
    assert vol.n_stations == 3 and vol.shape == expect["water"].shape
    assert vol.spacing == pytest.approx(GEO.spacing)
    # uint16 storage: at most half a unit of rounding
    np.testing.assert_allclose(vol.water, expect["water"], atol=0.51)
    np.testing.assert_allclose(vol.fat, expect["fat"], atol=0.51)
    assert vol.in_phase is not None and vol.opposed_phase is not None
    z_ax = GEO.axes()[0]
    assert vol.origin[2] == pytest.approx(z_ax[0], abs=1e-3)  # lowest slice first
    assert vol.directions[0] == pytest.approx([0, 0, 1])
    # Overlap slices come from the station where they lie deeper (not the edge slice).
    assert (vol.station[:GEO.station_slices - GEO.overlap // 2] == 0).all()
    # Same stations, different member order -> identical volume.
    path2, _, _ = _zip(tmp_path, sim, station_order=[0, 1, 2], seed=3)
    np.testing.assert_array_equal(read_dixon_zip(path2).water, vol.water)


def test_missing_middle_station_leaves_a_gap(tmp_path, acquired):
    _, stations, rec, _ = acquired
    path = tmp_path / "2_20201_2_0.zip"
    write_dixon_zip(path, "2", [stations[0], stations[2]], spacing=GEO.spacing, origin_xy=rec["origin_xy"])
    vol = read_dixon_zip(path)
    assert vol.n_stations == 2 and vol.shape[0] == GEO.n_slices
    assert (vol.station == -1).sum() == GEO.station_slices - 2 * GEO.overlap
    q = image_qc(vol.water, vol.fat, station=vol.station, n_stations=vol.n_stations, spacing=vol.spacing, reference=REF)
    assert q["qc_missing_station"]


def test_corrupt_and_incomplete_zips_raise_input_error(tmp_path, acquired):
    path, stations, rec, _ = acquired
    data = path.read_bytes()
    bad = tmp_path / "3_20201_2_0.zip"
    bad.write_bytes(data[: len(data) // 3])
    with pytest.raises(InputError, match="3_20201_2_0.zip"):
        read_dixon_zip(bad)
    no_fat = tmp_path / "4_20201_2_0.zip"
    write_dixon_zip(no_fat, "4", [{k: v for k, v in s.items() if k in ("z", "water")} for s in stations[:1]],
                    spacing=GEO.spacing, origin_xy=rec["origin_xy"])
    with pytest.raises(InputError, match="no fat series"):
        read_dixon_zip(no_fat)
    garbage = tmp_path / "5_20201_2_0.zip"
    with zipfile.ZipFile(garbage, "w") as zf:
        zf.writestr("x.dcm", b"not dicom at all")
    with pytest.raises(InputError, match="x.dcm"):
        read_dixon_zip(garbage)
    # A member shifted in-plane cannot be overlaid: refuse rather than guess.
    import pydicom

    shifted = tmp_path / "6_20201_2_0.zip"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(shifted, "w") as dst:
        for i, name in enumerate(src.namelist()):
            blob = src.read(name)
            if i == 1:
                ds = pydicom.dcmread(io.BytesIO(blob))
                pos = [float(v) for v in ds.ImagePositionPatient]
                ds.ImagePositionPatient = [pos[0] + 20, pos[1], pos[2]]
                buf = io.BytesIO()
                ds.save_as(buf)
                blob = buf.getvalue()
            dst.writestr(name, blob)
    with pytest.raises(InputError, match="in-plane"):
        read_dixon_zip(shifted)


def test_nifti_round_trip(tmp_path, phantom, acquired):
    _, sim = phantom
    vol = acquired[3]
    write_nifti(tmp_path / "n_water.nii.gz", vol.water, vol)
    write_nifti(tmp_path / "n_fat.nii.gz", vol.fat, vol)
    write_nifti(tmp_path / "n_labels.nii.gz", sim.labels, vol, dtype=np.int16)
    back = read_nifti(tmp_path / "n_water.nii.gz", tmp_path / "n_fat.nii.gz")
    assert back.eid == "n"
    np.testing.assert_allclose(back.water, vol.water, rtol=1e-6)
    assert back.spacing == pytest.approx(vol.spacing)
    np.testing.assert_allclose(back.origin, vol.origin, atol=1e-3)
    np.testing.assert_array_equal(read_label_nifti(tmp_path / "n_labels.nii.gz"), sim.labels)


@pytest.fixture(scope="module")
def clean_qc(acquired):
    vol = acquired[3]
    return image_qc(vol.water, vol.fat, station=vol.station, n_stations=vol.n_stations, spacing=vol.spacing, reference=REF)


def test_qc_clean_acquisition_raises_no_image_flag(clean_qc):
    assert not any(clean_qc[f] for f in ("qc_fat_water_swap", "qc_missing_station", "qc_truncated_fov", "qc_motion")), clean_qc
    assert clean_qc["qc_shell_ff_min"] > 0.8 and clean_qc["qc_air_ghost_max"] < 0.002


@pytest.mark.parametrize("artefact,flag", [
    ("fat_water_swap", "qc_fat_water_swap"),
    ("missing_station", "qc_missing_station"),
    ("truncated_fov", "qc_truncated_fov"),
    ("motion", "qc_motion"),
])
def test_qc_flags_injected_artefacts(artefact, flag, phantom, clean_qc):
    _, sim = phantom
    stations, rec = acquire_stations(sim, seed=21, artefact=artefact)
    st, kept = _stitch_stations(stations, GEO)
    station = np.full(len(kept), 0)
    for i, (a, b) in enumerate(GEO.station_ranges()):
        station[(kept >= a) & (kept < b)] = i
    n_st = len(stations)
    q = image_qc(st["water"], st["fat"], station=station, n_stations=n_st, spacing=GEO.spacing, reference=REF)
    assert q[flag], q
    others = [f for f in ("qc_fat_water_swap", "qc_truncated_fov", "qc_motion") if f != flag]
    assert not any(q[f] for f in others), q  # specific: no other image flag fires
