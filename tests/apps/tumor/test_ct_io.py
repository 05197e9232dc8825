"""CT input/output: NIfTI and DICOM geometry round trips, case layouts, the label space, HU and errors."""

import json

import nibabel as nib
import numpy as np
import pytest

from projdiff.apps.tumor.ct.cases import load_case
from projdiff.apps.tumor.ct.dicom import read_dicom_file, read_dicom_series
from projdiff.apps.tumor.ct.grid import Grid, grid_for
from projdiff.apps.tumor.ct.hu import HUWindow, check_hu, to_int16
from projdiff.apps.tumor.ct.labels import DEFAULT_LABELS, Label, LabelSpace
from projdiff.apps.tumor.ct.nifti import read_nifti, write_nifti
from projdiff.apps.tumor.ct.volume import Volume, require_3d
from projdiff.apps.tumor.phantom import make_phantom

ORIENTATIONS = [("R", "A", "S"), ("L", "P", "S"), ("L", "A", "I"), ("P", "I", "R"), ("S", "L", "A")]


def canonical_affine(spacing, origin=(12.5, -40.0, 7.25)):
    """(d, h, w) -> RAS with D superior, H posterior, W left."""
    affine = np.eye(4)
    affine[:3, :3] = np.array([[0, 0, -spacing[2]], [0, -spacing[1], 0], [spacing[0], 0, 0]])
    affine[:3, 3] = origin
    return affine


def save(array, affine, path, dtype=np.int16):
    image = nib.Nifti1Image(np.asarray(array).astype(dtype), affine)
    nib.save(image, path)
    return path


@pytest.mark.parametrize("axcodes", ORIENTATIONS)
@pytest.mark.parametrize("spacing", [(2.5, 0.7, 0.7), (1.0, 1.5, 0.8)])
def test_nifti_round_trip_keeps_grid_and_orientation(tmp_path, axcodes, spacing):
    rng = np.random.default_rng(0)
    canonical = rng.integers(-1000, 1500, size=(5, 6, 7)).astype(np.int16)
    grid = grid_for(canonical.shape, canonical_affine(spacing), axcodes)
    source = tmp_path / "in.nii.gz"
    write_nifti(source, canonical, grid)
    written = nib.load(source)
    assert written.shape == grid.shape and nib.aff2axcodes(written.affine) == axcodes

    volume = read_nifti(source)                                    # read -> canonical
    assert volume.array.shape == (5, 6, 7) and np.array_equal(volume.array, canonical)
    assert np.allclose(volume.spacing, spacing)
    assert np.allclose(volume.grid.canonical_affine, canonical_affine(spacing), atol=1e-5)

    target = tmp_path / "out.nii.gz"                               # canonical -> write
    write_nifti(target, volume.array.astype(np.int16), volume.grid, header=volume.header)
    out = nib.load(target)
    assert out.shape == written.shape
    assert np.array_equal(out.affine, written.affine)
    assert out.header.get_zooms() == written.header.get_zooms()
    assert nib.aff2axcodes(out.affine) == axcodes
    assert np.array_equal(np.asarray(out.dataobj), np.asarray(written.dataobj))
    assert out.get_data_dtype() == np.int16


def test_oblique_nifti_round_trip_is_exact(tmp_path):
    angle = np.radians(17)
    affine = np.array([[0.8 * np.cos(angle), -0.8 * np.sin(angle), 0, -100.3],
                       [0.8 * np.sin(angle), 0.8 * np.cos(angle), 0, 20.7],
                       [0, 0, -3.0, 55.1], [0, 0, 0, 1]])
    data = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    source = save(data, affine, tmp_path / "oblique.nii")
    volume = read_nifti(source)
    write_nifti(tmp_path / "back.nii", volume.array, volume.grid, header=volume.header)
    a, b = nib.load(source), nib.load(tmp_path / "back.nii")
    assert np.array_equal(a.affine, b.affine) and np.array_equal(a.get_fdata(), b.get_fdata())


def test_canonical_layout_is_superior_posterior_left(tmp_path):
    grid = grid_for((4, 5, 6), canonical_affine((2.0, 1.0, 1.0)), ("R", "A", "S"))
    affine = grid.canonical_affine
    assert affine[2, 0] > 0 and affine[1, 1] < 0 and affine[0, 2] < 0   # d -> +z, h -> -y, w -> -x
    assert grid.disk_index((0, 0, 0)) == (5, 4, 0) and grid.world((0, 0, 0)) == pytest.approx((12.5, -40.0, 7.25))


def write_dicom_series(folder, hu, spacing_rc=(0.8, 0.7), step=2.5, orientation=(1, 0, 0, 0, 1, 0),
                       origin=(-20.0, -30.0, 40.0), shuffle=True, positions=None, name="slice"):
    """Write hu (slices, rows, columns) as a CT series of one file per slice; returns the IPPs."""
    from pydicom.uid import generate_uid

    normal = np.cross(orientation[:3], orientation[3:])
    series = generate_uid()
    ipps = positions if positions is not None else [np.asarray(origin) + k * step * normal for k in range(len(hu))]
    order = np.random.default_rng(1).permutation(len(hu)) if shuffle else np.arange(len(hu))
    for index, k in enumerate(order):
        write_ct_slice(folder / f"{name}{index:03d}.dcm", (hu[k] + 1024).astype(np.uint16), SeriesInstanceUID=series,
                       PixelSpacing=[str(v) for v in spacing_rc],
                       ImageOrientationPatient=[f"{v:.8f}" for v in orientation],
                       ImagePositionPatient=[f"{v:.4f}" for v in ipps[k]])
    return ipps


def test_dicom_series_gives_hu_and_ras_affine(tmp_path):
    hu = np.random.default_rng(0).integers(-1000, 1000, size=(5, 6, 7)).astype(np.int16)  # (slices, rows, cols)
    write_dicom_series(tmp_path / "series", hu)
    volume = read_dicom_series(tmp_path / "series")
    expected = np.array([[-0.7, 0, 0, 20.0], [0, -0.8, 0, 30.0], [0, 0, 2.5, 40.0], [0, 0, 0, 1]])
    assert volume.grid.shape == (7, 6, 5)
    assert np.allclose(volume.grid.affine, expected)
    assert volume.grid.axcodes == ("L", "P", "S")
    disk = volume.grid.from_canonical(volume.array)
    assert np.array_equal(disk, hu.transpose(2, 1, 0).astype(np.float32))      # HU = stored + intercept
    write_nifti(tmp_path / "series.nii.gz", volume.array, volume.grid)          # same grid as NIfTI
    again = read_nifti(tmp_path / "series.nii.gz")
    assert again.grid.same_as(volume.grid, atol_mm=1e-5) and np.array_equal(again.array, volume.array)


def test_dicom_oblique_and_reversed_slices(tmp_path):
    c, s = np.cos(0.3), np.sin(0.3)
    orientation = (c, s, 0.0, 0.0, 0.0, -1.0)                      # a tilted coronal-like plane
    hu = np.arange(3 * 4 * 5, dtype=np.int16).reshape(3, 4, 5) - 30
    write_dicom_series(tmp_path / "obl", hu, orientation=orientation, step=-3.0)
    volume = read_dicom_series(tmp_path / "obl")
    normal = np.cross(orientation[:3], orientation[3:])
    assert np.allclose(volume.grid.affine[:3, 2], np.diag([-1, -1, 1]) @ (3.0 * normal), atol=1e-3)  # along +normal
    assert np.allclose(volume.spacing[0] * volume.spacing[1] * volume.spacing[2], 0.8 * 0.7 * 3.0)


def test_dicom_errors_name_the_input(tmp_path):
    hu = np.zeros((3, 4, 4), np.int16)
    positions = [np.array([0, 0, z]) for z in (0.0, 2.0, 5.0)]
    write_dicom_series(tmp_path / "uneven", hu, positions=positions)
    with pytest.raises(ValueError, match="uneven.*not evenly spaced"):
        read_dicom_series(tmp_path / "uneven")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.dcm").write_bytes(b"not dicom at all" * 20)
    (tmp_path / "junk" / "b.dcm").write_bytes(b"not dicom at all" * 20)
    with pytest.raises(ValueError, match=r"a\.dcm: not a DICOM file"):
        read_dicom_series(tmp_path / "junk")


def test_pydicom_ct_small_is_a_2d_slice_in_hu():
    from pydicom.data import get_testdata_file

    volume = read_dicom_file(get_testdata_file("CT_small.dcm"))
    assert volume.grid.shape == (128, 128, 1) and volume.array.min() < -500
    check_hu(volume.array, "CT_small")
    with pytest.raises(ValueError, match="CT_small.dcm: expected a 3D volume"):
        require_3d(volume)


def tiny_case_files(root, axcodes=("L", "P", "S")):
    phantom = make_phantom((16, 40, 40), (5.0, 6.0, 6.0), seed=3, axcodes=axcodes)
    return phantom, phantom.ct.grid


def test_abdomenatlas_layout(tmp_path):
    phantom, grid = tiny_case_files(tmp_path)
    case_dir = tmp_path / "BDMAP_00000001"
    write_nifti(case_dir / "ct.nii.gz", phantom.ct.array.round(), grid)
    for organ in ("liver", "spleen", "kidney_left"):
        write_nifti(case_dir / "segmentations" / f"{organ}.nii.gz", phantom.labels == DEFAULT_LABELS.code(organ),
                    grid, np.uint8)
    write_nifti(case_dir / "segmentations" / "hepatic_vessel.nii.gz", np.zeros(phantom.labels.shape), grid, np.uint8)
    case = load_case(case_dir)
    assert case.name == "BDMAP_00000001" and case.layout == "abdomenatlas"
    for organ in ("liver", "spleen", "kidney_left"):
        code = DEFAULT_LABELS.code(organ)
        assert np.array_equal(case.labels == code, phantom.labels == code)
    assert set(np.unique(case.labels)) == {0, 1, 2, 3}
    assert any("hepatic_vessel" in note for note in case.notes)
    assert np.array_equal(case.ct.array, phantom.ct.array.round())


@pytest.mark.parametrize("style", ["nnunet-v2", "msd"])
def test_nnunet_layout_maps_names_to_the_label_space(tmp_path, style):
    phantom, grid = tiny_case_files(tmp_path, axcodes=("R", "A", "S"))
    root = tmp_path / "Dataset003_Liver"
    file_labels = np.where(phantom.labels == 1, 1, 0)
    file_labels[phantom.labels == 2] = 2                      # pretend the spleen voxels are a tumor
    write_nifti(root / "imagesTr" / "liver_7_0000.nii.gz", phantom.ct.array.round(), grid)
    write_nifti(root / "labelsTr" / "liver_7.nii.gz", file_labels, grid, np.uint8)
    names = {"background": 0, "liver": 1, "Tumour": 2} if style == "nnunet-v2" else \
        {"0": "background", "1": "Liver", "2": "cancer"}
    (root / "dataset.json").write_text(json.dumps({"labels": names}))
    case = load_case(root / "imagesTr" / "liver_7_0000.nii.gz")
    assert case.name == "liver_7" and case.layout == "nnunet"
    assert np.array_equal(case.labels == 1, phantom.labels == 1)
    assert np.array_equal(case.labels == DEFAULT_LABELS.tumor_code, phantom.labels == 2)


def test_nnunet_value_missing_from_dataset_json(tmp_path):
    phantom, grid = tiny_case_files(tmp_path)
    root = tmp_path / "ds"
    write_nifti(root / "imagesTr" / "c.nii.gz", phantom.ct.array.round(), grid)
    write_nifti(root / "labelsTr" / "c.nii.gz", (phantom.labels == 1) * 3, grid, np.uint8)
    (root / "dataset.json").write_text(json.dumps({"labels": {"background": 0, "liver": 1}}))
    with pytest.raises(ValueError, match=r"labelsTr/c\.nii\.gz: label value 3 is not listed"):
        load_case(root / "imagesTr" / "c.nii.gz")


def test_label_space_is_explicit_and_typed():
    space = DEFAULT_LABELS
    organ_codes = {space.code(name) for name in space.organs}
    assert space.tumor_code not in organ_codes and 0 not in organ_codes
    assert len(organ_codes) == len(space.organs)
    assert space.code("Left Kidney") == space.code("kidney_left") == 3
    assert space.code("IVC") == space.code("postcava")
    assert space.name(space.tumor_code) == "tumor" and space.resolve("cancer") == "tumor"
    with pytest.raises(ValueError, match="not an organ"):
        space.organ_code("tumor")
    with pytest.raises(ValueError, match="unknown structure 'brain'"):
        space.code("brain")
    with pytest.raises(ValueError, match="unique"):
        LabelSpace([Label("background", 0, "background"), Label("a", 1, "organ"), Label("t", 1, "tumor")])
    with pytest.raises(ValueError, match="one tumor label"):
        LabelSpace([Label("background", 0, "background"), Label("a", 1, "organ")])


def test_hu_window_and_int16():
    window = HUWindow()
    hu = np.array([-1000.0, -175.0, 37.5, 250.0, 900.0], np.float32)
    unit = window.to_unit(hu)
    assert unit.tolist() == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.0])
    assert window.to_hu(unit).tolist() == pytest.approx([-175.0, -175.0, 37.5, 250.0, 250.0])
    assert HUWindow.parse("-160,240") == HUWindow(-160, 240)
    with pytest.raises(ValueError, match="low < high"):
        HUWindow(10, 10)
    with pytest.raises(ValueError, match="LOW,HIGH"):
        HUWindow.parse("wide")
    assert to_int16(np.array([-3000.4, 12.6, 5000.0])).tolist() == [-1024, 13, 3071]


@pytest.mark.parametrize("scale, hint", [(1.0, r"\[0, 1\]"), (255.0, r"\[0, 255\]")])
def test_images_not_in_hu_are_rejected(tmp_path, scale, hint):
    rng = np.random.default_rng(0)
    path = save(rng.random((8, 8, 4)) * scale, np.eye(4), tmp_path / "scaled.nii.gz", np.float32)
    with pytest.raises(ValueError, match=rf"scaled\.nii\.gz: not a CT in Hounsfield units.*{hint}"):
        load_case(path)


def test_mask_on_another_grid_is_rejected(tmp_path):
    phantom, grid = tiny_case_files(tmp_path)
    write_nifti(tmp_path / "ct.nii.gz", phantom.ct.array.round(), grid)
    save(np.ones((3, 3, 3)), np.eye(4), tmp_path / "small_mask.nii.gz", np.uint8)
    with pytest.raises(ValueError, match=r"small_mask\.nii\.gz: grid does not match the CT .*shape"):
        load_case(tmp_path / "ct.nii.gz", organ="liver", organ_mask=tmp_path / "small_mask.nii.gz")
    shifted = Grid(grid.shape, grid.affine + np.array([[0, 0, 0, 2.0]] * 3 + [[0, 0, 0, 0]]))
    write_nifti(tmp_path / "shifted.nii.gz", phantom.labels == 1, shifted, np.uint8)
    with pytest.raises(ValueError, match=r"shifted\.nii\.gz: grid does not match the CT .*differ by up to 2 mm"):
        load_case(tmp_path / "ct.nii.gz", organ="liver", organ_mask=tmp_path / "shifted.nii.gz")


def test_empty_organ_and_corrupt_files(tmp_path):
    phantom, grid = tiny_case_files(tmp_path)
    write_nifti(tmp_path / "ct.nii.gz", phantom.ct.array.round(), grid)
    write_nifti(tmp_path / "empty.nii.gz", np.zeros(phantom.labels.shape), grid, np.uint8)
    case = load_case(tmp_path / "ct.nii.gz", organ="liver", organ_mask=tmp_path / "empty.nii.gz")
    with pytest.raises(ValueError, match=r"ct\.nii\.gz: organ 'liver' is empty"):
        case.organ_mask("liver")
    good = (tmp_path / "ct.nii.gz").read_bytes()
    (tmp_path / "broken.nii.gz").write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match=r"broken\.nii\.gz: cannot read NIfTI"):
        read_nifti(tmp_path / "broken.nii.gz")
    with pytest.raises(FileNotFoundError, match="missing.nii.gz: no such file"):
        load_case(tmp_path / "missing.nii.gz")


def test_two_dimensional_nifti_is_flagged(tmp_path):
    path = save(np.full((8, 9), -1000), np.diag([0.7, 0.7, 1.0, 1.0]), tmp_path / "slice.nii.gz")
    volume = read_nifti(path)
    assert volume.grid.shape == (8, 9, 1)
    with pytest.raises(ValueError, match=r"slice\.nii\.gz: expected a 3D volume"):
        require_3d(volume)
    assert isinstance(volume, Volume)


def test_dicom_series_case_with_organ_mask(tmp_path):
    hu = np.random.default_rng(2).integers(-1000, 1000, size=(4, 6, 6)).astype(np.int16)
    write_dicom_series(tmp_path / "series", hu)
    volume = read_dicom_series(tmp_path / "series")
    mask = np.zeros(volume.array.shape, bool)
    mask[1:3, 2:5, 1:4] = True
    write_nifti(tmp_path / "liver.nii.gz", mask, volume.grid, np.uint8)
    case = load_case(tmp_path / "series", organ="liver", organ_mask=tmp_path / "liver.nii.gz")
    assert case.layout == "dicom" and case.name == "series"
    assert np.array_equal(case.organ_mask("liver"), mask) and np.array_equal(case.ct.array, volume.array)


def test_single_dicom_slice_puts_a_marked_pixel_at_its_world_coordinate(tmp_path):
    """Guards the (rows, columns) -> (columns, rows) transpose of a single-file read: the slice is not
    square, and one marked pixel must be found where the DICOM geometry puts it."""
    hu = np.full((1, 3, 5), -1000, np.int16)                        # (slices, rows, columns)
    row, column = 1, 3
    hu[0, row, column] = 700
    origin, spacing_rc = np.array([-20.0, -30.0, 40.0]), (0.8, 0.7)
    write_dicom_series(tmp_path / "one", hu, spacing_rc=spacing_rc, origin=tuple(origin))
    volume = read_dicom_file(next((tmp_path / "one").iterdir()))
    assert volume.grid.shape == (5, 3, 1)                           # on disk: (columns, rows, slice)
    dhw = np.unravel_index(int(np.argmax(volume.array)), volume.array.shape)
    lps = origin + column * spacing_rc[1] * np.array([1.0, 0, 0]) + row * spacing_rc[0] * np.array([0, 1.0, 0])
    assert np.allclose(volume.grid.world(dhw), lps * np.array([-1, -1, 1]))     # LPS -> RAS
    assert volume.array.max() == 700 and int((volume.array == 700).sum()) == 1


def write_ct_slice(path, stored, **tags):
    """Write one classic CT Image Storage file: ``stored`` (rows, columns) uint16 pixels, 0.8 x 0.7 mm,
    axial at (-20, -30, 40) LPS, slope 1 and intercept -1024. ``tags`` override those (None deletes one);
    ``stored`` may also be (frames, rows, columns) or (rows, columns, 3) when ``tags`` describe it."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    stored = np.asarray(stored)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = CTImageStorage, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "CT"
    ds.Rows, ds.Columns = stored.shape[:2] if tags.get("SamplesPerPixel") == 3 else stored.shape[-2:]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelSpacing = ["0.8", "0.7"]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.ImagePositionPatient = ["-20", "-30", "40"]
    ds.RescaleSlope, ds.RescaleIntercept = "1", "-1024"
    for name, value in tags.items():
        if value is None:
            delattr(ds, name)
        else:
            setattr(ds, name, value)
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.PixelData = stored.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.mark.parametrize("slope, intercept, expected", [
    ("2", "-1024", lambda s: 2.0 * s - 1024), ("0.25", "-1000.5", lambda s: 0.25 * s - 1000.5),
    (None, None, lambda s: s),                      # no rescale tags: HU are the stored values
    ("", "-1024", lambda s: s - 1024.0),            # an empty RescaleSlope counts as 1
    ("3", None, lambda s: 3.0 * s)])                # no RescaleIntercept: 0
def test_dicom_hu_uses_rescale_slope_and_intercept(tmp_path, slope, intercept, expected):
    """Guards HU = stored * RescaleSlope + RescaleIntercept (defaults 1 and 0 when a tag is absent or
    empty) and the float32 HU array of a DICOM volume."""
    stored = np.arange(12, dtype=np.uint16).reshape(3, 4) * 100 + 7
    path = write_ct_slice(tmp_path / "s.dcm", stored, RescaleSlope=slope, RescaleIntercept=intercept)
    volume = read_dicom_file(path)
    assert volume.array.dtype == np.float32
    hu = volume.grid.from_canonical(volume.array)[:, :, 0].T       # back to (rows, columns)
    assert np.array_equal(hu, expected(stored.astype(np.float64)).astype(np.float32))


def test_dicom_series_hu_is_float32_with_its_own_slope(tmp_path):
    """Guards the float32 HU of a series read and that each slice's RescaleSlope is applied."""
    hu = np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4) * 10 - 100
    write_dicom_series(tmp_path / "s", hu, shuffle=False)
    first = sorted((tmp_path / "s").iterdir())[0]
    import pydicom

    ds = pydicom.dcmread(first)
    ds.RescaleSlope = "2"
    ds.save_as(first)
    volume = read_dicom_series(tmp_path / "s")
    assert volume.array.dtype == np.float32
    disk = volume.grid.from_canonical(volume.array)                  # (columns, rows, slices)
    assert np.array_equal(disk[:, :, 0], (2.0 * (hu[0] + 1024) - 1024).T)
    assert np.array_equal(disk[:, :, 1], hu[1].T.astype(np.float32))


@pytest.mark.parametrize("tags, shape, problem", [
    ({"SOPClassUID": "1.2.840.10008.5.1.4.1.1.2.1"}, (3, 4), r"an enhanced multi-frame CT"),
    ({"SOPClassUID": "1.2.840.10008.5.1.4.1.1.4", "Modality": "MR"}, (3, 4), r"a DICOM MR object, not CT"),
    ({"NumberOfFrames": 3}, (3, 3, 4), r"a multi-frame file \(3 frames\)")])
def test_dicom_that_is_not_a_classic_ct_slice_is_refused(tmp_path, tags, shape, problem):
    """Guards the refusal of an enhanced CT, a non-CT modality and a multi-frame file: one line naming
    the file and what it is (not a later, unrelated failure or a silent read)."""
    path = write_ct_slice(tmp_path / "odd.dcm", np.zeros(shape, np.uint16), **tags)
    with pytest.raises(ValueError, match=rf"odd\.dcm: not a CT image series \({problem}\); export the CT as classic"):
        read_dicom_file(path)
    with pytest.raises(ValueError, match=rf"odd\.dcm: not a CT image series \({problem}\)"):
        read_dicom_series(tmp_path)


def test_dicom_colour_slice_is_refused_with_its_pixel_shape(tmp_path):
    """Guards the message for a CT file whose pixels are not one 2D slice (here RGB): file name and shape."""
    path = write_ct_slice(tmp_path / "rgb.dcm", np.zeros((3, 4, 3), np.uint8), SamplesPerPixel=3,
                          PhotometricInterpretation="RGB", PlanarConfiguration=0, BitsAllocated=8, BitsStored=8,
                          HighBit=7)
    with pytest.raises(ValueError, match=r"rgb\.dcm: expected one 2D slice per file, got pixel shape \(3, 4, 3\)"):
        read_dicom_file(path)


def test_dicom_missing_geometry_lists_the_missing_tags(tmp_path):
    """Guards the one-line error for missing geometry: the file and every missing tag, comma separated."""
    path = write_ct_slice(tmp_path / "nogeo.dcm", np.zeros((3, 4), np.uint16), ImagePositionPatient=None,
                          PixelSpacing=None)
    with pytest.raises(ValueError, match=r"nogeo\.dcm: missing DICOM geometry \(ImagePositionPatient, PixelSpacing\)$"):
        read_dicom_file(path)
    path = write_ct_slice(tmp_path / "noiop.dcm", np.zeros((3, 4), np.uint16), ImageOrientationPatient=None)
    with pytest.raises(ValueError, match=r"noiop\.dcm: missing DICOM geometry \(ImageOrientationPatient\)$"):
        read_dicom_file(path)


@pytest.mark.parametrize("cosines", [(1, 0, 0, 1, 0, 0), (1, 0, 0, 0.6, 0.6, 0), (2, 0, 0, 0, 0.5, 0)])
def test_dicom_orientation_that_is_not_orthonormal_is_refused(tmp_path, cosines):
    """Guards the orthonormality check of ImageOrientationPatient: parallel, oblique-but-not-perpendicular
    and non-unit direction cosines are refused, naming the file and the tag."""
    path = write_ct_slice(tmp_path / "iop.dcm", np.zeros((3, 4), np.uint16),
                          ImageOrientationPatient=[str(v) for v in cosines])
    with pytest.raises(ValueError, match=r"iop\.dcm: ImageOrientationPatient is not two orthonormal directions"):
        read_dicom_file(path)


def test_dicom_folder_with_one_slice_reads_that_slice(tmp_path):
    """Guards the one-file folder path of read_dicom_series (hidden files and DICOMDIR are skipped)."""
    hu = np.full((1, 3, 5), -1000, np.int16)
    hu[0, 2, 1] = 300
    write_dicom_series(tmp_path / "one", hu)
    (tmp_path / "one" / ".DS_Store").write_bytes(b"junk")
    (tmp_path / "one" / "DICOMDIR").write_bytes(b"junk")
    volume = read_dicom_series(tmp_path / "one")
    assert volume.grid.shape == (5, 3, 1) and volume.source.endswith("slice000.dcm")
    assert np.array_equal(volume.grid.from_canonical(volume.array)[:, :, 0], hu[0].T.astype(np.float32))


def test_dicom_folder_with_two_series_is_refused(tmp_path):
    """Guards the one-series-per-folder rule: the message names the folder and the number of series."""
    hu = np.zeros((3, 4, 4), np.int16)
    write_dicom_series(tmp_path / "mixed", hu, name="a")
    write_dicom_series(tmp_path / "mixed", hu, origin=(-20.0, -30.0, 47.5), name="b")   # continues the first
    with pytest.raises(ValueError, match=r"mixed: holds 2 DICOM series; put one series per folder"):
        read_dicom_series(tmp_path / "mixed")


def test_dicom_slices_at_one_position_are_refused(tmp_path):
    """Guards the duplicate-position check (a series exported twice into one folder)."""
    positions = [np.array([0.0, 0.0, z]) for z in (0.0, 2.0, 2.0, 4.0)]
    write_dicom_series(tmp_path / "dup", np.zeros((4, 3, 3), np.int16), positions=positions)
    with pytest.raises(ValueError, match=r"dup: two slices share a position"):
        read_dicom_series(tmp_path / "dup")


def test_thin_two_slice_series_is_a_3d_volume(tmp_path):
    """Guards that slices 0.5 mm apart are not taken for one position, and that two slices are 3D
    enough for require_3d (only a single slice is refused); the marked voxel lands at its world point."""
    hu = np.full((2, 3, 4), -1000, np.int16)
    hu[1, 2, 3] = 500                                                # slice 1, row 2, column 3
    write_dicom_series(tmp_path / "thin", hu, step=0.5)
    volume = read_dicom_series(tmp_path / "thin")
    require_3d(volume)
    assert volume.grid.shape == (4, 3, 2) and volume.spacing == pytest.approx((0.5, 0.8, 0.7))
    dhw = np.unravel_index(int(np.argmax(volume.array)), volume.array.shape)
    lps = np.array([-20.0, -30.0, 40.0]) + [3 * 0.7, 2 * 0.8, 1 * 0.5]
    assert volume.grid.world(dhw) == pytest.approx(tuple(lps * [-1, -1, 1]))


def test_nifti_with_a_trailing_axis_of_one_is_3d_and_several_volumes_are_refused(tmp_path):
    """Guards the (I, J, K, 1) -> (I, J, K) squeeze of a 4D file holding one volume, and the refusal
    (naming the file and shape) of one holding two."""
    data = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6, 1)
    affine = np.diag([-0.8, -0.7, 2.5, 1.0])
    volume = read_nifti(save(data, affine, tmp_path / "one.nii.gz"))
    assert volume.grid.shape == (4, 5, 6) and np.allclose(volume.grid.affine, affine)
    assert np.array_equal(volume.grid.from_canonical(volume.array), data[..., 0])
    save(np.concatenate([data, data], axis=3), affine, tmp_path / "two.nii.gz")
    with pytest.raises(ValueError, match=r"two\.nii\.gz: expected a 3D volume, got shape \(4, 5, 6, 2\)"):
        read_nifti(tmp_path / "two.nii.gz")


def test_nifti_output_keeps_the_input_header_fields(tmp_path):
    """Guards that write_nifti copies the input's header (description, units, qform/sform codes)."""
    image = nib.Nifti1Image(np.zeros((3, 4, 5), np.int16), np.diag([0.7, 0.8, 2.5, 1.0]))
    image.header["descrip"] = b"scanner 7, kernel B30f"
    image.header.set_xyzt_units("mm", "sec")
    image.set_qform(image.affine, code=1)
    image.set_sform(image.affine, code=1)
    nib.save(image, tmp_path / "in.nii")
    volume = read_nifti(tmp_path / "in.nii")
    write_nifti(tmp_path / "out.nii", volume.array, volume.grid, header=volume.header)
    out = nib.load(tmp_path / "out.nii").header
    assert out["descrip"].tobytes().rstrip(b"\0") == b"scanner 7, kernel B30f"
    assert out.get_xyzt_units() == ("mm", "sec")
    assert int(out["qform_code"]) == 1 and int(out["sform_code"]) == 1


def test_nifti_gz_output_has_no_time_stamp(tmp_path):
    """Guards the gzip MTIME field of .nii.gz outputs: 0 (no time stamp), so equal inputs give equal bytes."""
    grid = grid_for((3, 4, 5), canonical_affine((2.5, 0.8, 0.7)))
    array = np.arange(60, dtype=np.int16).reshape(3, 4, 5)
    write_nifti(tmp_path / "a.nii.gz", array, grid)
    raw = (tmp_path / "a.nii.gz").read_bytes()
    assert raw[:2] == b"\x1f\x8b" and raw[4:8] == b"\0\0\0\0"
    assert np.array_equal(read_nifti(tmp_path / "a.nii.gz").array, array)


def test_grid_for_refuses_a_canonical_affine_that_points_elsewhere():
    """Guards the message of grid_for when the canonical affine does not point (S, P, L): both axcodes."""
    with pytest.raises(ValueError, match=r"grid: canonical_affine must point \('S', 'P', 'L'\), got \('R', 'A', 'S'\)"):
        grid_for((3, 4, 5), np.eye(4))


def test_cifti_file_is_refused_in_one_clear_line(tmp_path):
    """Guards the message for a .nii that nibabel loads as CIFTI-2 (a surface/grayordinate matrix, no
    voxel grid): it names the file and what it is, instead of an empty NotImplementedError."""
    from nibabel import cifti2

    scalars = cifti2.cifti2_axes.ScalarAxis(["thickness"])
    brain = cifti2.cifti2_axes.BrainModelAxis.from_mask(np.ones((2, 2, 2), bool), affine=np.eye(4))
    nib.save(cifti2.Cifti2Image(np.zeros((1, 8), np.float32), header=(scalars, brain)), tmp_path / "c.dscalar.nii")
    with pytest.raises(ValueError, match=r"c\.dscalar\.nii: expected a NIfTI volume, got a Cifti2Image file"):
        read_nifti(tmp_path / "c.dscalar.nii")


@pytest.mark.parametrize("axcodes", [("L", "A", "I"), ("P", "I", "R"), ("R", "S", "P")])
def test_marked_voxel_keeps_its_world_point_on_a_flipped_anisotropic_grid(tmp_path, axcodes):
    """Guards Grid.world and Grid.disk_index against the file's own affine: one marked voxel of a
    non-square, anisotropic, flipped on-disk grid, read into the canonical layout, is found at
    ``affine @ (i, j, k, 1)`` and maps back to (i, j, k)."""
    direction = {"R": (1, 0, 0), "L": (-1, 0, 0), "A": (0, 1, 0), "P": (0, -1, 0), "S": (0, 0, 1), "I": (0, 0, -1)}
    shape, ijk, spacing = (5, 7, 4), (3, 1, 2), (0.7, 1.3, 2.9)
    affine = np.eye(4)
    for axis, code in enumerate(axcodes):                 # on-disk axis -> its world direction * its spacing
        affine[:3, axis] = spacing[axis] * np.array(direction[code])
    affine[:3, 3] = (-11.0, 23.5, -4.25)
    data = np.full(shape, -1000, np.int16)
    data[ijk] = 900
    save(data, affine, tmp_path / "marked.nii.gz")
    volume = read_nifti(tmp_path / "marked.nii.gz")
    assert volume.grid.axcodes == axcodes
    dhw = np.unravel_index(int(np.argmax(volume.array)), volume.array.shape)
    assert volume.grid.world(dhw) == pytest.approx(tuple((affine @ np.append(ijk, 1.0))[:3]))
    assert volume.grid.disk_index(dhw) == ijk
