"""``projdiff tumor``: outputs in the input's grid, sidecars, determinism, errors and the demo."""

import hashlib
import json

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from projdiff.apps.tumor.ct.hu import to_int16
from projdiff.apps.tumor.ct.labels import DEFAULT_LABELS
from projdiff.apps.tumor.ct.nifti import write_nifti
from projdiff.apps.tumor.phantom import make_phantom
from projdiff.cli import main

TUMOR = DEFAULT_LABELS.tumor_code


def run(args, capsys):
    code = main(["tumor"] + [str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory):
    """An AbdomenAtlas-style case of a small phantom, stored in LPS order with anisotropic voxels."""
    phantom = make_phantom((24, 64, 64), (5.0, 4.0, 4.0), seed=7, axcodes=("L", "P", "S"))
    folder = tmp_path_factory.mktemp("cases") / "PHANTOM_0007"
    write_nifti(folder / "ct.nii.gz", to_int16(phantom.ct.array), phantom.ct.grid)
    for organ in ("liver", "spleen", "kidney_left", "kidney_right", "pancreas"):
        write_nifti(folder / "segmentations" / f"{organ}.nii.gz", phantom.labels == DEFAULT_LABELS.code(organ),
                    phantom.ct.grid, np.uint8)
    return folder


def digests(folder):
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*"))
            if p.is_file() and ".projdiff-tumor" not in p.parts}


def test_tumor_cli_end_to_end(case_dir, tmp_path, capsys):
    before = digests(case_dir)
    out = tmp_path / "out"
    args = ["--ct", case_dir, "--organ", "liver", "--count", 2, "--size", "6-10mm", "--out", out,
            "--backend", "handcrafted", "--seed", 3]
    code, stdout, err = run(args, capsys)
    assert code == 0, err
    assert "lesion 2 in the liver" in stdout
    name = "PHANTOM_0007"
    lesion_files = [f"{name}_lesion{k}.{e}" for k in (1, 2) for e in ("json", "png")]
    expected = [f"{name}_ct.nii.gz", f"{name}_labels.nii.gz"] + lesion_files
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == sorted(expected)
    assert digests(case_dir) == before                                       # inputs untouched

    source, ct, labels = (nib.load(p) for p in (case_dir / "ct.nii.gz", out / f"{name}_ct.nii.gz",
                                                 out / f"{name}_labels.nii.gz"))
    for image in (ct, labels):                                              # the input's grid and orientation
        assert image.shape == source.shape and np.array_equal(image.affine, source.affine)
        assert image.header.get_zooms() == source.header.get_zooms()
        assert nib.aff2axcodes(image.affine) == ("L", "P", "S")
    assert ct.get_data_dtype() == np.int16 and labels.get_data_dtype() == np.uint8
    before_hu, after_hu = np.asarray(source.dataobj), np.asarray(ct.dataobj)
    label_map = np.asarray(labels.dataobj)
    liver = np.asarray(nib.load(case_dir / "segmentations" / "liver.nii.gz").dataobj) > 0
    tumor = label_map == TUMOR
    assert tumor.any() and not (tumor & ~liver).any()
    assert set(np.unique(label_map)) == {0, 1, 2, 3, 4, 6, TUMOR}
    near = ndimage.binary_dilation(tumor, np.ones((3, 3, 3), bool), iterations=8)
    changed = after_hu != before_hu
    assert changed.any() and not (changed & ~(liver & near)).any()
    assert after_hu[tumor].mean() < before_hu[tumor].mean() - 20           # hypodense by default

    sidecar = json.loads((out / f"{name}_lesion1.json").read_text())
    assert sidecar["backend"] == "handcrafted" and sidecar["seed"] == 3 and sidecar["organ"] == "liver"
    assert sidecar["scores"] is None and sidecar["accepted"] is True and sidecar["label_code"] == TUMOR
    assert 6 <= sidecar["radius_mm"] <= 10 and sidecar["size_class"] == "small"
    i, j, k = sidecar["centre_voxel"]
    assert label_map[i, j, k] == TUMOR
    world = source.affine @ np.array([i, j, k, 1.0])
    assert np.allclose(world[:3], sidecar["centre_world_mm"], atol=1e-3)

    first = digests(out)
    code, stdout, err = run(args, capsys)                                   # done: skipped, never overwritten
    assert code == 0 and "PHANTOM_0007: done before, skipped" in stdout and digests(out) == first
    code, _, err = run(args + ["--overwrite"], capsys)                      # same seed, same bytes
    assert code == 0, err
    assert digests(out) == first


@pytest.mark.parametrize("extra, message", [
    (["--size", "big"], "--size: expected a radius range in mm"),
    (["--organ", "brain"], "unknown structure 'brain'"),
    (["--organ", "aorta"], "organ 'aorta' is empty"),
    (["--backend", "gan"], "--backend: expected one of handcrafted"),
    (["--size", "90mm"], "organ 'liver' is too small for a lesion of radius 90.0 mm"),
    (["--demo"], "--ct: give a CT case"),
])
def test_tumor_cli_errors(case_dir, tmp_path, capsys, extra, message):
    code, _, err = run(["--ct", case_dir, "--out", tmp_path / "out", "--quiet"] + extra, capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_tumor_cli_input_errors(case_dir, tmp_path, capsys):
    code, _, err = run(["--ct", tmp_path / "nothing.nii.gz", "--out", tmp_path / "o"], capsys)
    assert code == 2 and "nothing.nii.gz: no such file" in err
    flat = tmp_path / "flat.nii.gz"
    nib.save(nib.Nifti1Image(np.full((30, 30, 1), -1000, np.int16), np.eye(4)), flat)
    code, _, err = run(["--ct", flat, "--organ-mask", flat, "--out", tmp_path / "o"], capsys)
    assert code == 2 and "flat.nii.gz: expected a 3D volume" in err
    scaled = tmp_path / "scaled.nii.gz"
    nib.save(nib.Nifti1Image(np.random.default_rng(0).random((9, 9, 9)).astype(np.float32), np.eye(4)), scaled)
    code, _, err = run(["--ct", scaled, "--out", tmp_path / "o"], capsys)
    assert code == 2 and "scaled.nii.gz: not a CT in Hounsfield units" in err


def one_line_nothing_written(code, err, out, message):
    assert code == 2 and message in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


def test_ct_not_in_hu(case_dir, tmp_path, capsys):
    """Stored scanner values 0..4095 without the rescale to HU."""
    raw = nib.load(case_dir / "ct.nii.gz")
    stored = nib.Nifti1Image((np.asarray(raw.dataobj) + 1024).astype(np.uint16), raw.affine)
    folder = tmp_path / "RAW_CASE"
    (folder / "segmentations").mkdir(parents=True)
    nib.save(stored, folder / "ct.nii.gz")
    (folder / "segmentations" / "liver.nii.gz").write_bytes((case_dir / "segmentations" / "liver.nii.gz").read_bytes())
    code, _, err = run(["--ct", folder, "--backend", "handcrafted", "--out", tmp_path / "o"], capsys)
    one_line_nothing_written(code, err, tmp_path / "o", "not a CT in Hounsfield units: no air below -500 HU, values "
                             "lie in [0, ")
    assert "without the rescale to HU" in err


def test_organ_mask_with_several_organs(case_dir, tmp_path, capsys):
    liver = nib.load(case_dir / "segmentations" / "liver.nii.gz")
    spleen = np.asarray(nib.load(case_dir / "segmentations" / "spleen.nii.gz").dataobj)
    several = tmp_path / "organs.nii.gz"
    nib.save(nib.Nifti1Image((np.asarray(liver.dataobj) + 2 * spleen).astype(np.uint8), liver.affine), several)
    code, _, err = run(["--ct", case_dir / "ct.nii.gz", "--organ-mask", several, "--backend", "handcrafted",
                        "--out", tmp_path / "o"], capsys)
    one_line_nothing_written(code, err, tmp_path / "o", "organs.nii.gz: holds 2 labels (1, 2), not one organ")


def test_organ_too_thin_for_the_window(case_dir, tmp_path, capsys):
    liver = nib.load(case_dir / "segmentations" / "liver.nii.gz")
    mask = np.asarray(liver.dataobj).copy()
    slices = np.flatnonzero(mask.any(axis=(0, 1)))                       # LPS: the third axis is the slice axis
    mask[..., slices[2:]] = 0
    thin = tmp_path / "thin.nii.gz"
    nib.save(nib.Nifti1Image(mask, liver.affine), thin)
    code, _, err = run(["--ct", case_dir / "ct.nii.gz", "--organ-mask", thin, "--size", "3mm", "--backend",
                        "handcrafted", "--out", tmp_path / "o"], capsys)
    one_line_nothing_written(code, err, tmp_path / "o", "organ 'liver' is 2 slice(s) thick (10 mm); lesions need "
                             "at least 3 slices")


def test_tumor_cli_with_organ_mask(case_dir, tmp_path, capsys):
    code, _, err = run(["--ct", case_dir / "ct.nii.gz", "--organ", "spleen", "--organ-mask",
                        case_dir / "segmentations" / "spleen.nii.gz", "--size", "tiny", "--out", tmp_path, "--quiet"],
                       capsys)
    assert code == 0, err
    labels = np.asarray(nib.load(tmp_path / "ct_labels.nii.gz").dataobj)
    assert set(np.unique(labels)) == {0, DEFAULT_LABELS.code("spleen"), TUMOR}


def test_tumor_demo(tmp_path, capsys):
    code, _, err = run(["--demo", "--out", tmp_path], capsys)
    assert code == 0, err
    sidecars = sorted(tmp_path.glob("*_lesion1.json"))
    assert len(sidecars) == 1 and sidecars[0].with_suffix(".png").is_file()
    info = json.loads(sidecars[0].read_text())
    assert info["organ"] == "liver" and info["accepted"] is True
    ct = nib.load(next(tmp_path.glob("*_ct.nii.gz")))
    assert ct.ndim == 3 and min(ct.shape) > 1 and ct.get_data_dtype() == np.int16
