"""Output layouts (flat, nnU-Net, AbdomenAtlas), the input's label codes, datasets in and out,
resuming an interrupted run, and the lesion figures."""

import hashlib
import json

import nibabel as nib
import numpy as np
import pytest

from projdiff.apps.tumor import outputs
from projdiff.apps.tumor.ct.cases import dataset_cases, load_case
from projdiff.apps.tumor.ct.hu import HUWindow, to_int16
from projdiff.apps.tumor.ct.labels import DEFAULT_LABELS
from projdiff.apps.tumor.ct.nifti import write_nifti
from projdiff.apps.tumor.dataset import synthesize_cases
from projdiff.apps.tumor.handcrafted_lesion import HandcraftedLesion
from projdiff.apps.tumor.label_table import LabelTable
from projdiff.apps.tumor.phantom import make_phantom
from projdiff.apps.tumor.synthesis import synthesize_tumors
from projdiff.cli import main

CODE = DEFAULT_LABELS.code
# the input's own codes: deliberately not the project's (liver 1, spleen 2)
NNUNET_LABELS = {"background": 0, "spleen": 1, "liver": 2, "hepatic_vessel": 3}


def phantom(seed):
    return make_phantom((24, 64, 64), (5.0, 4.0, 4.0), seed=seed, axcodes=("L", "P", "S"))


@pytest.fixture(scope="module")
def nnunet_root(tmp_path_factory):
    """An nnU-Net dataset of two phantoms; label 3 is a structure the project does not know."""
    root = tmp_path_factory.mktemp("nnunet") / "Dataset001_Phantom"
    for seed in (7, 8):
        case = phantom(seed)
        codes = np.zeros(case.labels.shape, np.uint8)
        codes[case.labels == CODE("spleen")] = 1
        codes[case.labels == CODE("liver")] = 2
        codes[case.labels == CODE("kidney_left")] = 3
        write_nifti(root / "imagesTr" / f"ph_{seed}_0000.nii.gz", to_int16(case.ct.array), case.ct.grid)
        write_nifti(root / "labelsTr" / f"ph_{seed}.nii.gz", codes, case.ct.grid, np.uint8)
    (root / "dataset.json").write_text(json.dumps({"channel_names": {"0": "CT"}, "labels": NNUNET_LABELS,
                                                   "numTraining": 2, "file_ending": ".nii.gz"}))
    return root


@pytest.fixture(scope="module")
def atlas_root(tmp_path_factory):
    """Two AbdomenAtlas case folders with a structure the project does not know and an existing lesion."""
    root = tmp_path_factory.mktemp("atlas") / "AbdomenAtlas"
    for seed in (7, 8):
        case = phantom(seed)
        folder = root / f"BDMAP_{seed:08d}"
        write_nifti(folder / "ct.nii.gz", to_int16(case.ct.array), case.ct.grid)
        for organ in ("liver", "spleen"):
            write_nifti(folder / "segmentations" / f"{organ}.nii.gz", case.labels == CODE(organ), case.ct.grid,
                        np.uint8)
        write_nifti(folder / "segmentations" / "duodenum.nii.gz", case.labels == CODE("pancreas"), case.ct.grid,
                    np.uint8)
        old = np.zeros(case.labels.shape, bool)
        liver = np.argwhere(case.labels == CODE("liver"))
        old[tuple(liver[len(liver) // 2])] = True                     # one voxel of a lesion the input had
        write_nifti(folder / "segmentations" / "liver_lesion.nii.gz", old, case.ct.grid, np.uint8)
    return root


def digests(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and ".projdiff-tumor" not in p.parts}


def data(path):
    return np.asarray(nib.load(path).dataobj)


def run(args, capsys):
    code = main(["tumor"] + [str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_dataset_cases_finds_both_layouts(nnunet_root, atlas_root):
    assert [p.name for p in dataset_cases(nnunet_root)] == ["ph_7_0000.nii.gz", "ph_8_0000.nii.gz"]
    assert [p.name for p in dataset_cases(atlas_root)] == ["BDMAP_00000007", "BDMAP_00000008"]
    assert dataset_cases(atlas_root / "BDMAP_00000007") is None          # one case, not a dataset


def test_nnunet_dataset_in_nnunet_dataset_out(nnunet_root, tmp_path, capsys):
    out = tmp_path / "Dataset501_Synth"
    code, stdout, err = run(["--ct", nnunet_root, "--layout", "nnunet", "--backend", "handcrafted", "--size", "tiny",
                             "--count", 2, "--out", out], capsys)
    assert code == 0, err
    assert "wrote 2 case(s)" in stdout
    for seed in (7, 8):
        image, labels = out / "imagesTr" / f"ph_{seed}_0000.nii.gz", out / "labelsTr" / f"ph_{seed}.nii.gz"
        source = nib.load(nnunet_root / "imagesTr" / f"ph_{seed}_0000.nii.gz")
        assert np.array_equal(nib.load(image).affine, source.affine) and nib.load(image).shape == source.shape
        before, after = data(nnunet_root / "labelsTr" / f"ph_{seed}.nii.gz"), data(labels)
        tumour = after == 4                                              # one above the input's largest code
        assert tumour.any() and not (tumour & (before != 2)).any()      # inside the liver (input code 2)
        assert np.array_equal(after[~tumour], before[~tumour])           # every input code kept, also 3
        assert (after == 3).sum() == (before == 3).sum() > 0
        assert (out / "lesions" / f"ph_{seed}_lesion2.json").is_file()
        assert (out / "lesions" / f"ph_{seed}_lesion1.png").is_file()
    dataset = json.loads((out / "dataset.json").read_text())
    assert dataset == {"channel_names": {"0": "CT"}, "labels": {**NNUNET_LABELS, "tumor": 4}, "numTraining": 2,
                       "file_ending": ".nii.gz", "description": dataset["description"]}
    sidecar = json.loads((out / "lesions" / "ph_7_lesion1.json").read_text())
    assert sidecar["label_code"] == 4 and sidecar["labels"] == dataset["labels"] and sidecar["layout"] == "nnunet"


def test_the_input_tumour_label_and_tumor_code(nnunet_root, tmp_path):
    case = load_case(nnunet_root / "imagesTr" / "ph_7_0000.nii.gz")
    assert LabelTable.for_case(case).tumor_code == 4
    assert LabelTable.for_case(case, tumor_code=9).as_dict()["tumor"] == 9
    with pytest.raises(ValueError, match=r"--tumor-code: 2 is the code of 'liver'"):
        LabelTable.for_case(case, tumor_code=2)
    with pytest.raises(ValueError, match=r"--tumor-code: expected a label code in 1\.\.255"):
        LabelTable.for_case(case, tumor_code=0)
    case.source.names[5] = "Cancer"                                       # a dataset with its own tumour label
    assert LabelTable.for_case(case).tumor_code == 5
    project = phantom(7)                                                  # inputs in the project's codes
    assert LabelTable.for_case(project).tumor_code == DEFAULT_LABELS.tumor_code == 16


def test_abdomenatlas_dataset_out(atlas_root, tmp_path, capsys):
    out = tmp_path / "atlas_out"
    code, _, err = run(["--ct", atlas_root, "--layout", "abdomenatlas", "--backend", "handcrafted", "--size", "tiny",
                        "--out", out, "--quiet"], capsys)
    assert code == 0, err
    for seed in (7, 8):
        case, source = out / f"BDMAP_{seed:08d}", atlas_root / f"BDMAP_{seed:08d}"
        names = sorted(p.name for p in (case / "segmentations").iterdir())
        assert names == ["duodenum.nii.gz", "liver.nii.gz", "liver_lesion.nii.gz", "spleen.nii.gz"]
        for name in ("duodenum.nii.gz", "liver.nii.gz", "spleen.nii.gz"):         # the input's masks, unchanged
            assert (case / "segmentations" / name).read_bytes() == (source / "segmentations" / name).read_bytes()
        lesion, old = data(case / "segmentations" / "liver_lesion.nii.gz"), data(source / "segmentations" /
                                                                                   "liver_lesion.nii.gz")
        liver = data(source / "segmentations" / "liver.nii.gz") > 0
        assert lesion.sum() > old.sum() and (lesion[old > 0] == 1).all() and not (lesion.astype(bool) & ~liver).any()
        changed = data(case / "ct.nii.gz") != data(source / "ct.nii.gz")
        assert changed.any() and not (changed & ~liver).any()
        assert (case / "lesions" / "lesion1.json").is_file() and (case / "lesions" / "lesion1.png").is_file()
    assert not (out / "dataset.json").exists()


def test_flat_layout_keeps_project_codes_and_takes_a_tumor_code(atlas_root, tmp_path, capsys):
    case = atlas_root / "BDMAP_00000007"
    code, _, err = run(["--ct", case, "--backend", "handcrafted", "--size", "tiny", "--tumor-code", 20, "--out",
                        tmp_path, "--quiet"], capsys)
    assert code == 0, err
    labels = data(tmp_path / "BDMAP_00000007_labels.nii.gz")
    assert set(np.unique(labels)) == {0, CODE("liver"), CODE("spleen"), 20}     # duodenum: not in the label space
    code, _, err = run(["--ct", case, "--backend", "handcrafted", "--tumor-code", 2, "--out", tmp_path / "o"], capsys)
    assert code == 2 and "--tumor-code: 2 is the code of 'spleen'" in err and not (tmp_path / "o").exists()


def test_an_interrupted_dataset_run_resumes(nnunet_root, tmp_path, monkeypatch):
    inputs = dataset_cases(nnunet_root)
    calls = []

    def synthesize(case):
        calls.append(case.name)
        return synthesize_tumors(case, "liver", 1, (3.0, 5.0), HandcraftedLesion(), seed=0)

    def go(out):
        return synthesize_cases(inputs, load_case, synthesize, out, {"seed": 0}, "liver", 1, layout="nnunet")

    clean = tmp_path / "clean"
    go(clean)
    real_write = outputs.write_nifti

    def killed_at_the_second_label_file(path, *args, **kwargs):
        if "labelsTr" in str(path) and "ph_8" in str(path):
            raise KeyboardInterrupt
        real_write(path, *args, **kwargs)

    out = tmp_path / "out"
    monkeypatch.setattr(outputs, "write_nifti", killed_at_the_second_label_file)
    with pytest.raises(KeyboardInterrupt):
        go(out)
    assert (out / "imagesTr" / "ph_8_0000.nii.gz").is_file() and not (out / "labelsTr" / "ph_8.nii.gz").exists()
    assert not (out / "dataset.json").exists()                          # no dataset.json for an incomplete dataset
    assert not [p for p in out.rglob(".*.tmp")]                          # never half a file
    monkeypatch.setattr(outputs, "write_nifti", real_write)
    calls.clear()
    go(out)
    assert calls == ["ph_8"]                                             # the finished case is not redone
    assert digests(out) == digests(clean)                                # same files as an uninterrupted run
    calls.clear()
    assert go(out) == [] and calls == []                                 # nothing left to do


def test_a_rerun_skips_done_cases_and_refuses_other_settings(nnunet_root, tmp_path, capsys):
    args = ["--ct", nnunet_root, "--layout", "nnunet", "--backend", "handcrafted", "--size", "tiny", "--out", tmp_path]
    assert run(args, capsys)[0] == 0
    first = digests(tmp_path)
    code, stdout, err = run(args, capsys)
    assert code == 0 and "ph_7: done before, skipped" in stdout and "wrote 0 case(s)" in stdout
    assert digests(tmp_path) == first
    code, _, err = run(args + ["--seed", 1], capsys)
    assert code == 2 and "holds outputs made with other settings (seed: 0, now 1)" in err
    assert len(err.strip().splitlines()) == 1 and digests(tmp_path) == first
    code, _, err = run(args + ["--seed", 1, "--overwrite"], capsys)
    assert code == 0 and digests(tmp_path) != first


def test_foreign_files_are_not_overwritten(atlas_root, tmp_path, capsys):
    (tmp_path / "BDMAP_00000007_ct.nii.gz").write_bytes(b"someone else's")
    code, _, err = run(["--ct", atlas_root / "BDMAP_00000007", "--backend", "handcrafted", "--out", tmp_path], capsys)
    assert code == 2 and "BDMAP_00000007_ct.nii.gz: exists; pass --overwrite" in err
    assert (tmp_path / "BDMAP_00000007_ct.nii.gz").read_bytes() == b"someone else's"


def test_lesion_figure_is_a_zoomed_crop_without_contour_on_the_lesion(monkeypatch):
    panels = []
    monkeypatch.setattr(outputs, "grid_png", lambda given: panels.extend(given) or b"png")
    rng = np.random.default_rng(0)
    before = rng.normal(60, 10, (200, 200)).astype(np.float32)
    after = before.copy()
    lesion = np.zeros((200, 200), bool)
    lesion[90:100, 120:130] = True
    after[lesion] -= 50
    organ = np.zeros((200, 200), bool)
    organ[40:160, 60:180] = True
    window = HUWindow()
    outputs.lesion_figure(before, after, organ, lesion, (1.0, 1.0), "lesion 1", window)
    (_, b), (_, a), (_, outlined) = panels
    rows, cols = outputs._crop_box(lesion, (1.0, 1.0))
    assert rows.start <= 90 and rows.stop >= 100 and cols.start <= 120 and cols.stop >= 130
    assert a.shape == b.shape == outlined.shape and a.shape[1] < 45     # zoomed: 10 mm + 2 x 15 mm of tissue
    assert torch_gray(a) and torch_gray(b) and not torch_gray(outlined)  # contours only on the third panel
    assert np.allclose(a[0].numpy(), window.to_unit(after[rows, cols]))
    assert np.allclose(b[0].numpy(), window.to_unit(before[rows, cols]))


def torch_gray(image):
    return bool((image[0] == image[1]).all() and (image[1] == image[2]).all())


def test_nnunet_case_in_abdomenatlas_layout_out(nnunet_root, tmp_path, capsys):
    image = nnunet_root / "imagesTr" / "ph_7_0000.nii.gz"
    code, _, err = run(["--ct", image, "--layout", "abdomenatlas", "--backend", "handcrafted", "--size", "tiny",
                        "--out", tmp_path, "--quiet"], capsys)
    assert code == 0, err
    folder = tmp_path / "ph_7" / "segmentations"
    assert sorted(p.name for p in folder.iterdir()) == ["hepatic_vessel.nii.gz", "liver.nii.gz",
                                                        "liver_lesion.nii.gz", "spleen.nii.gz"]
    codes = data(nnunet_root / "labelsTr" / "ph_7.nii.gz")
    for name, value in (("spleen", 1), ("liver", 2), ("hepatic_vessel", 3)):     # each structure of the input
        assert np.array_equal(data(folder / f"{name}.nii.gz"), (codes == value).astype(np.uint8))
    lesion = data(folder / "liver_lesion.nii.gz").astype(bool)
    assert lesion.any() and (codes[lesion] == 2).all()


def test_organ_mask_with_a_dataset_folder(atlas_root, tmp_path, capsys):
    mask = atlas_root / "BDMAP_00000007" / "segmentations" / "liver.nii.gz"
    code, _, err = run(["--ct", atlas_root, "--organ-mask", mask, "--out", tmp_path / "o"], capsys)
    assert code == 2 and "--organ-mask: one mask fits one case" in err and not (tmp_path / "o").exists()
