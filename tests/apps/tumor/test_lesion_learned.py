"""The learned tumor parts: lesion-crop data, the lesion prior recipe, the ProjDiff backend, the judge,
the retry/drop policy, the CLI and the benchmark's --quick, with tiny random models on small phantoms.

The tiny models are random (or trained for a few steps), so these tests check plumbing, shapes,
exactness and determinism, never the quality of the lesions or of the judge.
"""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from ct_cases import small_case
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

import projdiff
from projdiff.apps.tumor import projdiff_lesion
from projdiff.apps.tumor.adversarial import (AdversarialConfig, adversarial_finetune, centre_slices, discriminator_loss,
                                             lesion_voxel_loss, propose, redrawn_region, slice_stacks)
from projdiff.apps.tumor.ct.hu import to_int16
from projdiff.apps.tumor.ct.labels import DEFAULT_LABELS
from projdiff.apps.tumor.ct.nifti import write_nifti
from projdiff.apps.tumor.discriminator import (DISCRIMINATOR_KIND, RealismDiscriminator, train_discriminator,
                                               twin_volumes)
from projdiff.apps.tumor.judge import JUDGE_KIND, TumorJudge, train_judge
from projdiff.apps.tumor.lesion_backend import LesionSynthesizer
from projdiff.apps.tumor.lesion_crops import (LesionCrops, LesionCropSpec, build_cache, load_patches,
                                              make_lesion_phantom, phantom_seed)
from projdiff.apps.tumor.phantom import make_phantom
from projdiff.apps.tumor.projdiff_lesion import ProjDiffLesion, stack_starts
from projdiff.apps.tumor.recipes import PRESETS, LesionCropData
from projdiff.apps.tumor.seg_metrics import slice_jumps
from projdiff.apps.tumor.segmenter import SegmenterConfig, load_segmenter, make_segmenter, predict_slices
from projdiff.apps.tumor.synthesis import QualityFilter, acceptance_summary, synthesize_tumors
from projdiff.cli import main
from projdiff.engine import default_sigmas, karras_sigmas
from projdiff.training import Recipe, TrainConfig, build_model, train
from projdiff.training.architectures import TINY
from projdiff.utils.provenance import folder_sha256

ROOT = Path(__file__).resolve().parents[3]
SPACING = (5.0, 4.0, 4.0)
SPEC = LesionCropSpec(slices=4, size=16, context=8, spacing=SPACING, phantom_shape=(24, 64, 64))
TUMOR = DEFAULT_LABELS.tumor_code


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("lesion-cache")
    build_cache(root, SPEC, {"train": 2, "validation": 1}, progress=False)
    return root


@pytest.fixture(scope="module")
def lesion_prior_dir(cache, tmp_path_factory):
    """A tiny conditional lesion prior trained 3 steps on the cache (the preset's code path)."""
    recipe = Recipe(TINY, LesionCropData(cache), (SPEC.slices, SPEC.size, SPEC.size),
                    condition_channels=SPEC.condition_channels, batch_size=4)
    unet, scheduler = build_model(recipe, seed=0)
    data = recipe.data.load(recipe, seed=0)
    out = tmp_path_factory.mktemp("priors") / "lesion"
    train(unet, scheduler, data.train, out, TrainConfig(steps=3, batch_size=4, checkpoint_every=3, warmup_steps=1),
          validation=data.validation[:4], metadata=data.metadata, progress=False)
    return out


@pytest.fixture(scope="module")
def backend(lesion_prior_dir):
    return ProjDiffLesion.load(str(lesion_prior_dir), steps=1)


@pytest.fixture(scope="module")
def discriminator_dir(cache, lesion_prior_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("discriminators") / "discriminator"
    train_discriminator(cache, str(lesion_prior_dir), out, lesions=2, steps=2, batch_size=4, backend_steps=1,
                        config=SegmenterConfig(widths=(8, 8, 8), patch=16, spacing=SPACING), held_out=1,
                        progress=False)
    return out


@pytest.fixture(scope="module")
def judge_dir(cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("judges") / "judge"
    train_judge(cache, out, steps=2, batch_size=4, config=SegmenterConfig(widths=(8, 8, 8), patch=16, spacing=SPACING),
                progress=False)
    return out


def test_lesion_crop_items(cache):
    patches = load_patches(cache, "train")
    assert patches and all(p.lesion.any() and not (p.lesion & ~p.organ).any() for p in patches)
    data = LesionCrops(patches, SPEC, seed=0)
    item = data[3]
    assert item.shape == (3 * SPEC.slices, SPEC.size, SPEC.size) and item.dtype == torch.float32
    image, lesion, organ = item[:4], item[4:8], item[8:]
    assert image.min() >= -1 and image.max() <= 1
    assert set(lesion.unique().tolist()) <= {0.0, 1.0} and lesion.sum() > 0 and (lesion <= organ).all()
    assert torch.equal(data[3], LesionCrops(patches, SPEC, seed=0)[3])                  # (seed, epoch, index)
    data.set_epoch(1)
    assert not torch.equal(data[3], item)
    again = make_lesion_phantom(1, SPEC)
    assert np.array_equal(again.case.ct.array, make_lesion_phantom(1, SPEC).case.ct.array)
    assert build_cache(cache, SPEC, {"train": 2}, progress=False)["counts"] == {"train": 2, "validation": 1}
    with pytest.raises(ValueError, match="built with other lesion-crop settings"):
        build_cache(cache, dataclasses.replace(SPEC, slices=8), progress=False)


def test_lesion_preset_and_prior(lesion_prior_dir):
    recipe = PRESETS["lesions"]
    unet, _ = build_model(recipe)
    assert (unet.config.in_channels, unet.config.out_channels) == (24, 8)
    assert 1_000_000 <= sum(p.numel() for p in unet.parameters()) <= 2_000_000
    prior = projdiff.load_prior(lesion_prior_dir)
    assert prior.condition_channels == 8 and prior.shape == (4, None, None)
    assert prior.metadata["kind"] == "lesion" and prior.metadata["spacing_mm"] == list(SPACING)
    bound = prior.with_condition(torch.zeros(1, 8, 16, 16))
    assert bound.denoise(torch.zeros(2, 4, 16, 16), torch.ones(2)).shape == (2, 4, 16, 16)


def test_backend_rejects_other_priors(tiny_prior_dir):
    with pytest.raises(ValueError, match="not a lesion prior"):
        ProjDiffLesion.load(str(tiny_prior_dir))


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), base=st.floats(-100, 200), organ_cut=st.integers(3, 9),
       spacing=st.sampled_from([SPACING, (2.5, 3.0, 3.0)]))
def test_projdiff_backend_changes_only_organ_near_lesion(backend, seed, base, organ_cut, spacing):
    ct, organ, lesion = small_case(seed, base, organ_cut)
    learned = dataclasses.replace(backend, spacing=spacing)
    assert isinstance(learned, LesionSynthesizer)
    out = learned.synthesize(ct.copy(), lesion, organ, np.random.default_rng(seed))
    assert np.array_equal(out, learned.synthesize(ct.copy(), lesion, organ, np.random.default_rng(seed)))
    near = ndimage.distance_transform_edt(~lesion, sampling=spacing) <= learned.margin_mm + 1e-6
    assert np.array_equal(out[~(organ & near)], ct[~(organ & near)])
    assert out.dtype == np.float32 and np.isfinite(out).all() and out.min() >= -1024 and out.max() <= 3071
    assert not np.array_equal(out[lesion], ct[lesion])


def test_stack_starts():
    assert stack_starts(3, 6, 20, 8, 4) == [1]                               # fits: one centred window
    assert stack_starts(2, 15, 20, 8, 4) == [1, 5, 9]
    for first, last, depth, slices, overlap in [(0, 19, 20, 8, 4), (5, 40, 50, 4, 1), (0, 9, 12, 4, 3)]:
        starts = stack_starts(first, last, depth, slices, overlap)
        assert starts[0] <= max(first - 1, 0) and starts[-1] + slices >= min(last + 2, depth)
        assert all(b - a <= slices - overlap for a, b in zip(starts, starts[1:]))


def test_tall_lesion_uses_overlapping_stacks(backend, monkeypatch):
    """S = 4 slices; a 10-slice lesion needs several windows, each observing what earlier ones drew."""
    calls = []
    solve = projdiff.solve

    def spy(operator, prior, y, **kwargs):
        calls.append(operator.mask.clone())
        return solve(operator, prior, y, **kwargs)

    monkeypatch.setattr(projdiff_lesion, "solve", spy)
    ct = (60.0 + np.random.default_rng(0).normal(0, 10, (16, 20, 20))).astype(np.float32)
    organ = np.zeros(ct.shape, bool)
    organ[1:15, 2:18, 2:18] = True
    lesion = np.zeros(ct.shape, bool)
    lesion[3:13, 7:13, 7:13] = True
    out = backend.synthesize(ct, lesion, organ, np.random.default_rng(1))
    assert len(calls) >= 3
    starts = stack_starts(3, 12, 16, 4, backend.overlap)       # redrawn = the lesion's slices (margin 3 mm < voxels)
    assert len(calls) == len(starts)
    for k in range(1, len(starts)):
        shared = starts[k - 1] + 4 - starts[k]
        assert shared >= backend.overlap and bool(calls[k][:shared].all())  # earlier slices are observed
    assert not np.array_equal(out[lesion], ct[lesion])



def test_backend_pins_the_karras_schedule(backend, monkeypatch):
    """Every window is solved on Karras levels over the prior's range, not the engine's default schedule."""
    seen = []
    solve = projdiff.solve

    def spy(operator, prior, y, **kwargs):
        seen.append((kwargs["sigmas"], karras_sigmas(backend.steps, float(prior.sigma_min), float(prior.sigma_max)),
                     default_sigmas(prior, backend.steps)))
        return solve(operator, prior, y, **kwargs)

    monkeypatch.setattr(projdiff_lesion, "solve", spy)
    ct = (60.0 + np.random.default_rng(0).normal(0, 10, (8, 20, 20))).astype(np.float32)
    organ = np.zeros(ct.shape, bool)
    organ[1:7, 2:18, 2:18] = True
    lesion = np.zeros(ct.shape, bool)
    lesion[3:5, 8:12, 8:12] = True
    backend.synthesize(ct, lesion, organ, np.random.default_rng(1))
    assert seen and all(torch.equal(used, karras) for used, karras, _ in seen)
    assert not torch.equal(seen[0][0], seen[0][2])            # the engine's default would differ

def test_slice_jumps():
    ct = np.zeros((6, 8, 8))
    ct[::2] = 100.0                                                         # alternating slices
    mask = np.zeros(ct.shape, bool)
    mask[1:5, 2:6, 2:6] = True
    jumps = slice_jumps(ct, mask)
    assert jumps["through_plane_hu"] == 100.0 and jumps["in_plane_hu"] == 0.0 and np.isnan(jumps["ratio"])
    assert np.isnan(slice_jumps(ct, np.zeros(ct.shape, bool))["through_plane_hu"])


def test_judge_round_trip_and_scores(judge_dir):
    """Plumbing only: a 2-step judge has no skill; scores are shares in [0, 1] and reproducible."""
    judge = TumorJudge.load(judge_dir)
    model, info = load_segmenter(judge_dir, JUDGE_KIND)
    unit = np.random.default_rng(0).random((5, 20, 24)).astype(np.float32)
    assert np.array_equal(predict_slices(judge.model, unit), predict_slices(model, unit))
    assert info["steps"] == 2 and "validation" in info and judge.checkpoint["sha256"] == folder_sha256(judge_dir)
    real = make_lesion_phantom(3, SPEC)
    lesion_mask = real.lesions[0][1].placement.mask
    on_lesion = judge.score(real.case.ct.array, lesion_mask, SPACING)
    untouched = judge.score(make_phantom(SPEC.phantom_shape, SPACING, seed=3).ct.array, lesion_mask, SPACING)
    for score in (on_lesion, untouched):
        assert set(score) == {"fraction", "mean_probability"} and 0 <= score["fraction"] <= 1
    assert judge.score(real.case.ct.array, lesion_mask, SPACING) == on_lesion
    assert 0 <= judge.score(real.case.ct.array, lesion_mask, (2.5, 2.0, 2.0))["fraction"] <= 1   # resampled
    with pytest.raises(ValueError, match="empty"):
        judge.score(real.case.ct.array, np.zeros_like(lesion_mask), SPACING)
    with pytest.raises(ValueError, match="holds a 'tumor-judge' model, expected 'other'"):
        load_segmenter(judge_dir, "other")


def test_discriminator_twins_round_trip_and_scores(cache, backend, lesion_prior_dir, discriminator_dir):
    """Plumbing only (a 2-step model has no skill): twins differ only inside the redrawn region, scores
    are shares in [0, 1] and reproducible, the saved info records the generator."""
    config = SegmenterConfig(widths=(8, 8, 8), patch=16, spacing=SPACING)
    patch = load_patches(cache, "train")[0]
    real, fake = twin_volumes([patch], backend, config, progress=False)
    assert not real.tumor.any() and np.array_equal(real.organ, patch.lesion)
    assert np.array_equal(fake.tumor, patch.lesion) and np.array_equal(fake.organ, patch.organ)
    assert (fake.unit != real.unit).any() and not (fake.unit != real.unit)[~patch.organ].any()
    discriminator = RealismDiscriminator.load(discriminator_dir)
    _, info = load_segmenter(discriminator_dir, DISCRIMINATOR_KIND)
    assert info["lesions"] == 2 and info["prior"]["sha256"] == folder_sha256(lesion_prior_dir)
    assert set(info["validation"]) == {"lesions", "mean_realism_real", "mean_realism_synthetic"}
    phantom = make_lesion_phantom(3, SPEC)
    lesion_mask = phantom.lesions[0][1].placement.mask
    score = discriminator.score(phantom.case.ct.array, lesion_mask, SPACING)
    assert set(score) == {"realism", "mean_synthetic_probability"} and 0 <= score["realism"] <= 1
    assert discriminator.score(phantom.case.ct.array, lesion_mask, SPACING) == score
    with pytest.raises(ValueError, match="discriminator: the lesion mask is empty"):
        discriminator.score(phantom.case.ct.array, np.zeros_like(lesion_mask), SPACING)


class StubJudge:
    """Scores every draw the same: ``fraction`` for a judge, ``realism`` for a discriminator."""

    def __init__(self, fraction, key="fraction"):
        self.fraction, self.key, self.checkpoint, self.calls = fraction, key, {"source": "stub", "sha256": None}, 0

    def score(self, ct_hu, lesion_mask, spacing, organ_mask=None):
        self.calls += 1
        return {self.key: self.fraction}


def phantom_case():
    return make_phantom(SPEC.phantom_shape, SPACING, seed=11)


def test_rejecting_judge_drops_every_lesion(backend):
    case = phantom_case()
    judge = StubJudge(0.0)
    result = synthesize_tumors(case, "liver", 2, (6.0, 10.0), backend, seed=2, quality=QualityFilter(judge, 0.5, 3))
    assert np.array_equal(result.ct_hu, case.ct.array) and np.array_equal(result.labels, case.labels)
    assert judge.calls == 8 and all(not les.accepted and len(les.scores) == 4 for les in result.lesions)
    assert len({s["appearance_seed"] for s in result.lesions[0].scores}) == 4
    summary = acceptance_summary([("liver", les.placement.size_class, les.accepted, len(les.scores))
                                  for les in result.lesions])
    assert summary["all"] == {"lesions": 2, "accepted": 0, "attempts": 8, "rate": 0.0, "pass_rate": 0.0}
    passing = synthesize_tumors(case, "liver", 2, (6.0, 10.0), backend, seed=2, quality=QualityFilter(StubJudge(1.0)))
    plain = synthesize_tumors(case, "liver", 2, (6.0, 10.0), backend, seed=2)
    assert np.array_equal(passing.ct_hu, plain.ct_hu) and (passing.labels == TUMOR).any()
    assert all(les.accepted and len(les.scores) == 1 for les in passing.lesions)


def test_discriminator_is_a_second_gate(backend):
    """A lesion passes only when both judges pass it; a rejecting discriminator drops it."""
    case = phantom_case()
    judge, discriminator = StubJudge(1.0), StubJudge(0.2, key="realism")
    quality = QualityFilter(judge, 0.5, 2, discriminator=discriminator, realism_threshold=0.5)
    dropped = synthesize_tumors(case, "liver", 1, (6.0, 10.0), backend, seed=2, quality=quality)
    assert not dropped.lesions[0].accepted and judge.calls == discriminator.calls == 3
    assert dropped.lesions[0].scores[0] == {"attempt": 0, "appearance_seed": dropped.lesions[0].scores[0][
        "appearance_seed"], "fraction": 1.0, "realism": 0.2}
    lenient = QualityFilter(StubJudge(1.0), discriminator=StubJudge(0.2, key="realism"), realism_threshold=0.1)
    kept = synthesize_tumors(case, "liver", 1, (6.0, 10.0), backend, seed=2, quality=lenient)
    assert kept.lesions[0].accepted and (kept.labels == TUMOR).any()
    with pytest.raises(ValueError, match="--realism-threshold: expected a number in"):
        QualityFilter(judge, realism_threshold=1.5)


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory):
    phantom = make_phantom(SPEC.phantom_shape, SPACING, seed=7, axcodes=("L", "P", "S"))
    folder = tmp_path_factory.mktemp("cases") / "PHANTOM_0007"
    write_nifti(folder / "ct.nii.gz", to_int16(phantom.ct.array), phantom.ct.grid)
    write_nifti(folder / "segmentations" / "liver.nii.gz", phantom.labels == DEFAULT_LABELS.code("liver"),
                phantom.ct.grid, np.uint8)
    return folder


def run(args, capsys):
    code = main(["tumor"] + [str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_tumor_cli_projdiff_with_judge(case_dir, lesion_prior_dir, judge_dir, discriminator_dir, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["--ct", case_dir, "--count", 2, "--size", "6-10mm", "--backend", "projdiff", "--prior", lesion_prior_dir,
            "--steps", 1, "--judge", judge_dir, "--threshold", 0.0, "--retries", 1, "--discriminator",
            discriminator_dir, "--realism-threshold", 0.0, "--out", out]
    code, stdout, err = run(args, capsys)
    assert code == 0, err
    assert "accepted after 1 attempt(s)" in stdout
    sidecar = json.loads((out / "PHANTOM_0007_lesion1.json").read_text())
    assert sidecar["backend"] == "projdiff" and sidecar["accepted"] is True and sidecar["threshold"] == 0.0
    assert sidecar["prior_checkpoint"]["sha256"] == folder_sha256(lesion_prior_dir)
    assert sidecar["judge"]["sha256"] == folder_sha256(judge_dir) and len(sidecar["scores"]) == 1
    assert sidecar["discriminator"]["sha256"] == folder_sha256(discriminator_dir)
    assert sidecar["realism_threshold"] == 0.0 and "realism" in sidecar["scores"][0]
    summary = json.loads((out / "PHANTOM_0007_summary.json").read_text())
    assert summary["acceptance"]["all"]["lesions"] == 2 and summary["acceptance"]["organs"]["liver"]["size_classes"]
    first = (out / "PHANTOM_0007_ct.nii.gz").read_bytes()
    code, _, err = run(args + ["--overwrite"], capsys)
    assert code == 0, err
    assert (out / "PHANTOM_0007_ct.nii.gz").read_bytes() == first                              # deterministic


@pytest.mark.parametrize("extra, message", [
    (["--backend", "handcrafted", "--prior", "x"], "--prior: only with --backend projdiff"),
    (["--threshold", "0.3"], "--threshold: only with --judge"),
    (["--discriminator", "x"], "--discriminator: only with --judge"),
    (["--judge", "missing-judge"], "--judge missing-judge: no such folder"),
    (["--backend", "projdiff", "--prior", "bundled:nothing"], "no bundled prior 'nothing'"),
])
def test_tumor_cli_learned_option_errors(case_dir, tmp_path, capsys, extra, message):
    code, _, err = run(["--ct", case_dir, "--out", tmp_path / "out", "--quiet"] + extra, capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_tumor_benchmark_quick(lesion_prior_dir, judge_dir, discriminator_dir):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "benchmarks/tumor.py", "--quick", "--prior", str(lesion_prior_dir),
                           "--judge", str(judge_dir), "--discriminator", str(discriminator_dir)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    for arm in ("| projdiff |", "| projdiff + judge |", "| projdiff + judge + discriminator |", "| handcrafted |"):
        assert arm in done.stdout
    assert "after post-processing" in done.stdout and "run on cpu" in done.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal needs a machine without CUDA")
def test_tumor_benchmark_refuses_a_device_the_machine_lacks():
    done = subprocess.run([sys.executable, "benchmarks/tumor.py", "--quick", "--device", "cuda"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--device cuda: no CUDA device" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_realism_benchmark_quick(cache, lesion_prior_dir, judge_dir, discriminator_dir):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "benchmarks/realism.py", "--quick", "--data", str(cache), "--generators",
                           str(lesion_prior_dir), "--discriminators", str(discriminator_dir), "--judge", str(judge_dir)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| real lesions |" in done.stdout and f"| ProjDiff, `{lesion_prior_dir}` |" in done.stdout


def test_bundled_tumor_models_load_and_the_judge_finds_real_lesions():
    """The shipped lesion prior, judge and discriminator load by name; on a held-out phantom (test seed,
    never used in training) the judge finds realistic lesions and not the same places without them."""
    assert ProjDiffLesion.load("bundled:lesions").checkpoint["source"] == "bundled:lesions"
    assert RealismDiscriminator.load("bundled:tumor-discriminator").model.config.widths == (24, 48, 96)
    judge = TumorJudge.load("bundled:tumor-judge")
    spec = LesionCropSpec(organs={"liver": (3, (6.0, 12.0))})
    phantom = make_lesion_phantom(phantom_seed("test", 0), spec)
    healthy = make_lesion_phantom(phantom_seed("test", 0), dataclasses.replace(spec, organs={}))
    masks = [lesion.placement.mask for _, lesion in phantom.lesions]
    on = [judge.score(phantom.case.ct.array, m, spec.spacing)["fraction"] for m in masks]
    off = [judge.score(healthy.case.ct.array, m, spec.spacing)["fraction"] for m in masks]
    assert len(masks) == 3 and np.mean(on) > np.mean(off) + 0.3, (on, off)


def test_the_judge_is_organ_relative_given_the_organ():
    """On a liver at a portal-venous level (+45 HU, lesions with it), the shipped judge finds the realistic lesions
    about as on the phantoms it was trained on when it is given the organ, and misses more of them without."""
    judge = TumorJudge.load("bundled:tumor-judge")
    spec = LesionCropSpec(organs={"liver": (3, (6.0, 12.0))})
    phantom = make_lesion_phantom(phantom_seed("test", 1), spec)
    liver = phantom.organ_labels == DEFAULT_LABELS.code("liver")
    shifted = phantom.case.ct.array.copy()
    shifted[liver] += 45.0
    masks = [lesion.placement.mask for _, lesion in phantom.lesions]

    def found(ct, organ):
        return np.mean([judge.score(ct, m, spec.spacing, organ)["fraction"] for m in masks])

    plain, raw, relative = found(phantom.case.ct.array, None), found(shifted, None), found(shifted, liver)
    assert found(phantom.case.ct.array, liver) == pytest.approx(plain, abs=0.1)     # the phantom: (almost) as is
    assert relative > raw + 0.15 and relative == pytest.approx(plain, abs=0.2), (plain, raw, relative)


# Adversarial training of the prior against the discriminator (tasks/tumor_adversarial.py): the pieces for
# what they must guarantee, the loop for its outputs and determinism; lesion quality is benchmarks/realism.py's.


@pytest.fixture(scope="module")
def crops(cache):
    data = LesionCrops(load_patches(cache, "train"), SPEC, seed=0)
    return torch.stack([data[i] for i in range(4)])


def test_slice_stacks_line_up_with_centre_slices():
    volume = torch.arange(2 * 5 * 2 * 2, dtype=torch.float32).reshape(2, 5, 2, 2)
    stacks, centres = slice_stacks(volume, 1), centre_slices(volume, 1)
    assert stacks.shape == (6, 3, 2, 2) and centres.shape == (6, 1, 2, 2)
    assert torch.equal(stacks[4], volume[1, 1:4]) and torch.equal(centres[4, 0], volume[1, 2])
    assert torch.equal(stacks[:, 1:2], centres)


def test_proposals_change_only_the_redrawn_region(lesion_prior_dir, crops):
    prior = projdiff.load_prior(str(lesion_prior_dir))
    s = SPEC.slices
    lesion, organ = crops[:, s : 2 * s], crops[:, 2 * s :]
    region = redrawn_region(lesion, organ, margin=2)
    assert bool((region >= lesion).all()) and bool((region <= organ).all()) and region.sum() > lesion.sum()
    real, fake, mask = propose(prior, crops, s, AdversarialConfig(), torch.Generator().manual_seed(0))
    assert torch.equal(real, crops[:, :s]) and torch.equal(mask, lesion)
    assert torch.equal(fake[region == 0], real[region == 0]) and not torch.equal(fake, real)
    assert fake.requires_grad and float(fake.detach().abs().max()) <= 1.0
    again = propose(prior, crops, s, AdversarialConfig(), torch.Generator().manual_seed(0))[1]
    assert torch.equal(fake, again)


def test_discriminator_labels_point_the_right_way(crops):
    """Trained on its loss alone, a discriminator learns to mark brightened lesion voxels and nothing else."""
    s = SPEC.slices
    real, lesion = crops[:, :s], crops[:, s : 2 * s]
    fake = (real + 0.8 * lesion).clamp(-1, 1)
    model = make_segmenter(SegmenterConfig(widths=(8, 8, 8), patch=16, spacing=SPACING), seed=0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    first = discriminator_loss(model, real, fake, lesion).item()
    for _ in range(80):
        loss = discriminator_loss(model, real, fake, lesion)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.5 * first
    with torch.no_grad():
        voxels = centre_slices(lesion, 1) > 0.5
        on_fake = torch.sigmoid(model(slice_stacks((fake + 1) / 2, 1)))[voxels].mean()
        on_real = torch.sigmoid(model(slice_stacks((real + 1) / 2, 1)))[voxels].mean()
        # the generator's adversarial loss is low when the discriminator calls its lesion voxels real
        assert lesion_voxel_loss(model, real, lesion, 0.0) < lesion_voxel_loss(model, fake, lesion, 0.0)
        assert lesion_voxel_loss(model, real, lesion, 1.0) > lesion_voxel_loss(model, fake, lesion, 1.0)
    assert on_fake > 0.5 > on_real


def test_adversarial_finetune_outputs_and_determinism(cache, lesion_prior_dir, discriminator_dir, judge_dir, tmp_path):
    config = AdversarialConfig(steps=2, batch_size=2, adversarial_weight=0.5, judge_weight=0.0, generator_lr=1e-3)
    info = adversarial_finetune(cache, lesion_prior_dir, discriminator_dir, judge_dir, tmp_path / "a", config,
                                progress=False)
    assert set(info["heldout_denoising_loss"]) == {"before", "after"}
    log = [json.loads(line) for line in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2] and all(np.isfinite(list(r.values())).all() for r in log)
    backend = ProjDiffLesion.load(str(tmp_path / "a" / "prior"), steps=1)
    assert backend.prior.metadata["adversarial"]["config"]["steps"] == 2
    assert backend.prior.metadata["slices"] == SPEC.slices
    RealismDiscriminator.load(tmp_path / "a" / "discriminator")
    runs = {"b": config, "c": dataclasses.replace(config, adversarial_weight=0.0),
            "d": dataclasses.replace(config, judge_weight=1.0)}
    for name, variant in runs.items():
        adversarial_finetune(cache, lesion_prior_dir, discriminator_dir, judge_dir, tmp_path / name, variant,
                             progress=False)
    weights = {name: projdiff.load_prior(str(tmp_path / name / "prior")).unet.state_dict() for name in "abcd"}
    assert all(torch.equal(weights["a"][k], weights["b"][k]) for k in weights["a"])  # same seed, same bits
    for other in "cd":                                           # the adversarial and the judge terms both act
        assert any(not torch.equal(weights["a"][k], weights[other][k]) for k in weights["a"])
    assert set(info["last_50_steps"]) == {"discriminator", "adversarial", "judge", "denoising"}
    with pytest.raises(ValueError, match="adversarial training: expected"):
        AdversarialConfig(sigma_range=(0.5, 0.1))


# Lesion types (lesion_types, mean_inpainting): the lesion's mean is held in its type's range whatever the organ's HU.


def test_mean_inpainting_is_an_operator_and_sets_the_region_mean():
    from projdiff.apps.tumor.mean_inpainting import MeanInpainting
    from projdiff.testing import check_operator

    g = torch.Generator().manual_seed(0)
    observed = torch.rand(4, 6, 6, generator=g) < 0.5
    region = ~observed & (torch.rand(4, 6, 6, generator=g) < 0.5)
    op = MeanInpainting(observed, region)
    check_operator(op)
    x, source = torch.randn(2, 4, 6, 6, generator=g), torch.randn(2, 4, 6, 6, generator=g)
    projected = op.project(x, op(source))
    assert torch.allclose(projected[:, observed], source[:, observed])                       # observed: from y
    assert torch.allclose(projected[:, region].mean(-1), source[:, region].mean(-1), atol=1e-6)  # region: y's mean
    free = ~observed & ~region
    assert torch.equal(projected[:, free], x[:, free])                                      # the rest: untouched
    centred = projected[:, region] - projected[:, region].mean(-1, keepdim=True)
    assert torch.allclose(centred, x[:, region] - x[:, region].mean(-1, keepdim=True), atol=1e-6)  # texture kept
    with pytest.raises(ValueError, match="must not overlap"):
        MeanInpainting(observed, observed)


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2 ** 16), target=st.floats(0.1, 0.9))
def test_projdiff_samples_keep_the_lesion_mean(backend, seed, target):
    """The sampler with MeanInpainting: whatever the prior draws, the region's mean is the target (window units)."""
    from projdiff.apps.tumor.mean_inpainting import MeanInpainting

    rng = np.random.default_rng(seed)
    x = rng.random((SPEC.slices, 16, 16)).astype(np.float32)
    observed = np.ones(x.shape, bool)
    observed[:, 4:12, 4:12] = False
    region = np.zeros(x.shape, bool)
    region[1:3, 6:10, 6:10] = True
    condition = torch.from_numpy(np.concatenate([region, ~observed]).astype(np.float32))[None]
    prior = projdiff.priors.AffinePrior.unit_interval(backend.prior.with_condition(condition))
    y = torch.from_numpy(np.where(observed, x, region * np.float32(target)))[None]
    result = projdiff.solve(MeanInpainting(torch.from_numpy(observed), torch.from_numpy(region)), prior, y,
                            steps=3, seed=seed, progress=False)
    sample = result.x[0].numpy()
    assert sample[region].mean() == pytest.approx(target, abs=1e-5)
    assert np.allclose(sample[observed], x[observed], atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("liver_hu, kind", [(105.0, "hypodense"), (30.0, "hypodense"), (105.0, "cystic"),
                                            (105.0, "hyperdense")])
def test_shipped_prior_draws_the_requested_type_on_unseen_ct(liver_hu, kind):
    """The shipped prior on livers it never saw (portal-venous 105 HU with 25 HU noise, or fatty 30 HU): the lesion
    is visible and of the requested type (contrast against the organ around it, or the mean HU for cysts, and
    the core's texture against the organ ring's)."""
    from projdiff.apps.tumor.lesion_stats import lesion_statistics
    from projdiff.apps.tumor.lesion_types import LESION_TYPES

    case = make_phantom((24, 96, 96), (2.5, 2.0, 2.0), seed=4_000_000, noise_hu=25.0)
    liver = case.labels == DEFAULT_LABELS.code("liver")
    case.ct.array[liver] += liver_hu - float(np.median(case.ct.array[liver]))
    learned = ProjDiffLesion.load("bundled:lesions", steps=10, spacing=case.ct.spacing, lesion_type=kind)
    result = synthesize_tumors(case, "liver", 1, (6.0, 9.0), learned, seed=1)
    mask = result.lesions[0].placement.mask
    stats = lesion_statistics(result.ct_hu, mask, liver & ~mask, case.ct.spacing)
    assert abs(stats["contrast_hu"]) >= 10, stats                                      # visible
    assert LESION_TYPES[kind].contains(stats["lesion_hu"], stats["organ_hu"]), stats   # of its type
    assert LESION_TYPES[kind].texture_contains(stats["core_texture_hu"], stats["ring_texture_hu"]), stats


def test_local_normalisation():
    from projdiff.apps.tumor.local_normalisation import LocalNormalisation

    rng = np.random.default_rng(0)
    inside = 60 + 15 * rng.standard_normal(5000)                            # like the training organs: unchanged
    norm = LocalNormalisation.measure(inside, np.ones(inside.shape, bool), (25.0, 65.0), (9.0, 22.0))
    assert norm.scale == 1.0 and norm.reference_hu == norm.organ_hu and np.allclose(norm.forward(inside), inside)
    portal = 105 + 35 * rng.standard_normal(5000)                          # brighter and noisier: mapped in
    norm = LocalNormalisation.measure(portal, np.ones(portal.shape, bool), (25.0, 65.0), (9.0, 22.0))
    mapped = norm.forward(portal)
    assert norm.reference_hu == 65.0 and abs(np.median(mapped) - 65) < 1 and abs(np.std(mapped) - 22) < 1.5
    assert np.allclose(norm.inverse(mapped), portal)


# Texture (lesion_types.texture_ratio, lesion_stats' core): the lesion core's HU spread is held relative to the organ's.


def test_texture_scale_and_contains():
    from projdiff.apps.tumor.lesion_types import LESION_TYPES

    hypo, cyst, free = LESION_TYPES["hypodense"], LESION_TYPES["cystic"], LESION_TYPES["free"]
    assert hypo.texture_ratio == (0.9, 1.6) and cyst.texture_ratio == (0.6, 1.1) and free.texture_ratio is None
    assert hypo.texture_scale(40.0, 10.0) == pytest.approx(16.0 / 40.0)     # grainier than 1.6 x the ring: capped
    assert hypo.texture_scale(5.0, 10.0) == pytest.approx(9.0 / 5.0)        # smoother than 0.9 x: raised
    assert hypo.texture_scale(12.0, 10.0) == 1.0 and free.texture_scale(40.0, 10.0) == 1.0
    assert hypo.texture_scale(0.0, 10.0) == 1.0 and hypo.texture_scale(5.0, 0.0) == 1.0
    assert cyst.texture_scale(15.0, 10.0) == pytest.approx(11.0 / 15.0)
    assert hypo.texture_scale(40.0, 10.0, margin=0.02) == pytest.approx(16.0 * 0.98 / 40.0)
    assert hypo.texture_scale(5.0, 10.0, margin=0.02) == pytest.approx(9.0 * 1.02 / 5.0)
    assert hypo.texture_contains(16.0, 10.0) and not hypo.texture_contains(16.2, 10.0)
    assert cyst.texture_contains(6.0, 10.0) and not cyst.texture_contains(5.9, 10.0) and free.texture_contains(99, 1)


def test_core_texture_leaves_out_the_edge():
    """A lesion whose edge shell (within 2 mm) is 100 HU brighter than its noisy core: the core's std is the noise's."""
    from projdiff.apps.tumor.lesion_stats import lesion_core, lesion_statistics

    spacing = (2.0, 1.0, 1.0)
    zz, yy, xx = np.meshgrid(*(np.arange(n) * s for n, s in zip((16, 40, 40), spacing)), indexing="ij")
    distance = np.sqrt((zz - 16) ** 2 + (yy - 20) ** 2 + (xx - 20) ** 2)
    lesion, organ = distance <= 10.0, distance <= 18.0
    core = lesion_core(lesion, spacing)
    assert core.any() and not (core & ~lesion).any()
    assert np.array_equal(core, ndimage.distance_transform_edt(lesion, sampling=spacing) > 2.0)
    hu = np.where(organ, 60.0, -100.0) + 3.0 * np.random.default_rng(0).standard_normal(lesion.shape)
    hu[lesion & ~core] += 100.0
    stats = lesion_statistics(hu, lesion, organ & ~lesion, spacing)
    assert stats["core_texture_hu"] == pytest.approx(np.std(hu[core]))
    assert 2.7 < stats["core_texture_hu"] < 3.3 < 30 < stats["texture_hu"]
    tiny = np.zeros(lesion.shape, bool)
    tiny[8, 20, 20] = True                                              # no core: the whole lesion
    assert np.array_equal(lesion_core(tiny, spacing), tiny)


@pytest.mark.parametrize("kind", ["hypodense", "cystic", "free"])
def test_backend_holds_the_core_texture_relative_to_the_organ(backend, kind):
    """Whatever the (random, tiny) prior draws, the core's spread over the ring's (in the output) is in the type's range."""
    from projdiff.apps.tumor.lesion_stats import RING_MM, lesion_core, organ_ring
    from projdiff.apps.tumor.lesion_types import LESION_TYPES

    case = make_phantom((24, 64, 64), SPACING, seed=3)
    liver = case.labels == DEFAULT_LABELS.code("liver")
    ct = case.ct.array.copy()
    zz, yy, xx = np.nonzero(liver)
    centre = np.array([int(np.median(a)) for a in (zz, yy, xx)])
    grid = np.stack(np.meshgrid(*(np.arange(n) for n in ct.shape), indexing="ij"), -1)
    lesion = (np.linalg.norm((grid - centre) * np.array(SPACING), axis=-1) <= 12.0) & liver
    learned = dataclasses.replace(backend, lesion_type=kind)
    out = learned.synthesize(ct, lesion, liver, np.random.default_rng(0))
    core, ring = lesion_core(lesion, SPACING), organ_ring(lesion, liver, SPACING, RING_MM)
    ratio = out[core].std() / out[ring].std()
    if kind == "free":
        plain = dataclasses.replace(backend, lesion_type="free").synthesize(ct, lesion, liver, np.random.default_rng(0))
        assert np.array_equal(out, plain)
        return
    low, high = LESION_TYPES[kind].texture_ratio
    assert low <= ratio <= high, ratio


@pytest.mark.slow
def test_shipped_prior_texture_on_the_real_slice():
    """The real TCIA slice (pydicom-data): the default lesion's core was 2.2 x as grainy as the liver around it
    before texture was held; now it lies in the hypodense range."""
    from projdiff.apps.tumor.demo import demo_case
    from projdiff.apps.tumor.lesion_stats import lesion_statistics
    from projdiff.apps.tumor.lesion_types import LESION_TYPES

    case = demo_case()
    learned = ProjDiffLesion.load("bundled:lesions", steps=20, spacing=case.ct.spacing)
    result = synthesize_tumors(case, "liver", 1, (6.0, 15.0), learned, seed=0)
    mask = result.lesions[0].placement.mask
    stats = lesion_statistics(result.ct_hu, mask, case.organ_mask("liver") & ~mask, case.ct.spacing)
    assert LESION_TYPES["hypodense"].contains(stats["lesion_hu"], stats["organ_hu"]), stats
    assert LESION_TYPES["hypodense"].texture_contains(stats["core_texture_hu"], stats["ring_texture_hu"]), stats


def test_relative_targets_lie_inside_the_range_by_the_margin():
    from projdiff.apps.tumor.lesion_types import LESION_TYPES, RELATIVE_MARGIN_HU

    rng = np.random.default_rng(0)
    hypo = np.array([LESION_TYPES["hypodense"].target_hu(100.0, rng) for _ in range(2000)]) - 100.0
    assert -80 + RELATIVE_MARGIN_HU <= hypo.min() < -80 + RELATIVE_MARGIN_HU + 1
    assert -20 - RELATIVE_MARGIN_HU - 1 < hypo.max() <= -20 - RELATIVE_MARGIN_HU
    cyst = np.array([LESION_TYPES["cystic"].target_hu(100.0, rng) for _ in range(2000)])
    assert 0 <= cyst.min() < 1 and 19 < cyst.max() <= 20                 # absolute: the whole range
    assert LESION_TYPES["free"].target_hu(100.0, rng) is None
