"""Phantom, lesion masks, lesion appearance (hand-crafted and realistic) and segmentation metrics."""

import numpy as np
import pytest
from ct_cases import small_case
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from projdiff.apps.tumor.ct.labels import DEFAULT_LABELS
from projdiff.apps.tumor.ct.shapes import deformed_ellipsoid, smooth_noise
from projdiff.apps.tumor.handcrafted_lesion import HandcraftedLesion
from projdiff.apps.tumor.lesion_backend import LesionSynthesizer, lesion_box
from projdiff.apps.tumor.lesion_masks import parse_size, sample_lesion_masks, size_class_of
from projdiff.apps.tumor.phantom import PHANTOM_HU, make_phantom
from projdiff.apps.tumor.realistic_lesions import LesionRanges, add_realistic_lesions
from projdiff.apps.tumor.seg_metrics import case_metrics, dice, lesion_dice, lesion_sensitivity, surface_dice

SHAPE, SPACING = (32, 64, 64), (5.0, 4.5, 4.5)


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(SHAPE, SPACING, seed=0)


def test_phantom_is_deterministic_and_seeded(phantom):
    again = make_phantom(SHAPE, SPACING, seed=0)
    assert np.array_equal(again.ct.array, phantom.ct.array) and np.array_equal(again.labels, phantom.labels)
    other = make_phantom(SHAPE, SPACING, seed=1)
    assert not np.array_equal(other.labels, phantom.labels)


def test_phantom_hu_and_geometry(phantom):
    hu, labels = phantom.ct.array, phantom.labels
    assert hu.dtype == np.float32 and hu.shape == SHAPE and labels.dtype == np.uint8
    assert phantom.ct.spacing == pytest.approx(SPACING) and phantom.ct.grid.axcodes == ("R", "A", "S")
    present = {DEFAULT_LABELS.name(code) for code in np.unique(labels)}
    assert set(PHANTOM_HU) | {"background"} == present
    for name, value in PHANTOM_HU.items():
        inner = ndimage.binary_erosion(labels == DEFAULT_LABELS.code(name))
        if inner.sum() > 20 and name not in ("spine", "bowel_gas"):   # away from partial-volume edges
            assert abs(np.median(hu[inner]) - value) < 15, name
    assert np.median(hu[labels == 0]) < -950 and np.median(hu[labels == DEFAULT_LABELS.code("bowel_gas")]) < -500
    assert 350 < np.median(hu[labels == DEFAULT_LABELS.code("spine")]) < 750
    assert 8 < np.std(hu[ndimage.binary_erosion(labels == 1, iterations=2)]) < 25   # CT-like noise
    assert np.isfinite(hu).all() and hu.min() > -1200 and hu.max() < 1000


def test_phantom_anatomy_sides():
    case = make_phantom((24, 96, 96), (6.0, 3.5, 3.5), seed=2, axcodes=("L", "P", "S"))
    centre = lambda name: np.argwhere(case.labels == DEFAULT_LABELS.code(name)).mean(axis=0)
    assert centre("liver")[2] < 48 < centre("spleen")[2]          # liver on the patient's right (W runs to the left)
    assert centre("spine")[1] > centre("pancreas")[1]             # spine posterior of the pancreas
    assert case.ct.grid.axcodes == ("L", "P", "S")


def test_smooth_noise_and_ellipsoid():
    rng = np.random.default_rng(0)
    field = smooth_noise((40, 40, 40), (1.0, 1.0, 1.0), 6.0, rng)
    assert abs(field.std() - 1) < 0.35 and abs(field.mean()) < 0.5
    assert np.abs(np.diff(field, axis=0)).mean() < 0.35                       # smooth over ~6 mm
    mask = deformed_ellipsoid((40, 40, 40), (1.0, 2.0, 2.0), (20, 20, 20), (10.0, 8.0, 6.0), rng, roughness=0.0)
    assert mask.sum() * 4.0 == pytest.approx(4 / 3 * np.pi * 10 * 8 * 6, rel=0.1)


def test_parse_size_and_classes():
    assert parse_size("10-20mm") == (10.0, 20.0)
    assert parse_size(" 12.5 mm") == (12.5, 12.5)
    assert parse_size("3-5") == (3.0, 5.0) and parse_size("Large") == (24.0, 40.0)
    for bad in ("20-10mm", "0mm", "1cm", "big", "-3"):
        with pytest.raises(ValueError, match="--size"):
            parse_size(bad)
    assert [size_class_of(r) for r in (4, 5.5, 8, 15, 30)] == ["tiny", "tiny", "small", "medium", "large"]


def test_lesions_lie_in_the_eroded_organ(phantom):
    organ = phantom.labels == DEFAULT_LABELS.code("liver")
    depth = ndimage.distance_transform_edt(organ, sampling=SPACING)
    lesions = sample_lesion_masks(organ, SPACING, 3, (6.0, 9.0), seeds=[1, 2, 3], organ_name="liver")
    for lesion in lesions:
        assert 6.0 <= lesion.radius_mm <= 9.0 and lesion.erosion_mm == lesion.radius_mm
        assert depth[lesion.centre] >= lesion.radius_mm
        assert lesion.mask.any() and not (lesion.mask & ~organ).any() and lesion.mask[lesion.centre]
        assert all(0.75 * lesion.radius_mm <= a <= 1.25 * lesion.radius_mm for a in lesion.semi_axes_mm)
        extent_mm = (np.ptp(np.argwhere(lesion.mask), axis=0) + 1) * np.asarray(SPACING)
        assert extent_mm.max() <= 2 * 1.25 * lesion.radius_mm * 1.5 + max(SPACING)   # sized in mm
    again = sample_lesion_masks(organ, SPACING, 3, (6.0, 9.0), seeds=[1, 2, 3])
    assert all(np.array_equal(a.mask, b.mask) and a.centre == b.centre for a, b in zip(lesions, again))


def test_lesion_sizes_are_physical():
    rng_volumes = []
    for spacing in ((1.0, 1.0, 1.0), (2.0, 2.0, 2.0)):
        shape = tuple(int(60 / s) for s in spacing)
        organ = np.ones(shape, bool)
        lesion = sample_lesion_masks(organ, spacing, 1, (10.0, 10.0), seeds=[5])[0]
        rng_volumes.append(lesion.mask.sum() * np.prod(spacing))
    assert rng_volumes[0] == pytest.approx(rng_volumes[1], rel=0.25)
    assert rng_volumes[0] == pytest.approx(4 / 3 * np.pi * 1000, rel=0.5)


def test_lesion_placement_falls_back_then_fails():
    organ = np.zeros((20, 20, 20), bool)
    organ[5:15, 5:15, 5:15] = True                                  # 10 mm cube: at most 5 mm deep
    lesion = sample_lesion_masks(organ, (1.0, 1.0, 1.0), 1, (8.0, 8.0), seeds=[0])[0]
    assert lesion.erosion_mm == pytest.approx(4.0) and organ[lesion.centre]
    with pytest.raises(ValueError, match="organ 'liver' is too small for a lesion of radius 20.0 mm"):
        sample_lesion_masks(organ, (1.0, 1.0, 1.0), 1, (20.0, 20.0), seeds=[0], organ_name="liver")
    with pytest.raises(ValueError, match="empty"):
        sample_lesion_masks(np.zeros((5, 5, 5), bool), (1.0, 1.0, 1.0), 1, (2.0, 2.0), seeds=[0])


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), contrast=st.sampled_from(["hypo", "hyper"]),
       base=st.floats(-100, 200), organ_cut=st.integers(3, 9))
def test_handcrafted_changes_only_organ_near_lesion(seed, contrast, base, organ_cut):
    ct, organ, lesion = small_case(seed, base, organ_cut)
    backend = HandcraftedLesion(contrast=contrast)
    assert isinstance(backend, LesionSynthesizer)
    out = backend.synthesize(ct.copy(), lesion, organ, np.random.default_rng(seed))
    reach = int(3.0 * 2.0 + 0.5)                                  # truncate x largest edge sigma
    allowed = organ & ndimage.binary_dilation(lesion, np.ones((3, 3, 3), bool), iterations=reach)
    assert np.array_equal(out[~allowed], ct[~allowed])
    assert out.dtype == np.float32 and np.isfinite(out).all() and out.min() >= -1024 and out.max() <= 3071
    if lesion.any():
        shift = float((out - ct)[lesion].mean())
        assert shift < -5 if contrast == "hypo" else shift > 5


def test_realistic_lesions(phantom):
    organ = phantom.labels == DEFAULT_LABELS.code("liver")
    ct, lesions = add_realistic_lesions(phantom.ct.array, organ, SPACING, count=2, size_mm=(6.0, 10.0), seed=4)
    again, _ = add_realistic_lesions(phantom.ct.array, organ, SPACING, count=2, size_mm=(6.0, 10.0), seed=4)
    assert np.array_equal(ct, again) and len(lesions) == 2
    changed = ct != phantom.ct.array
    near = ndimage.binary_dilation(np.any([les.placement.mask for les in lesions], axis=0), iterations=3)
    assert changed.any() and not (changed & ~(organ & near)).any()
    ranges = LesionRanges()
    for lesion in lesions:
        info = lesion.as_dict()
        low, high = ranges.hypo_contrast_hu if info["kind"] == "hypo" else ranges.hyper_contrast_hu
        assert low <= info["contrast_hu"] <= high and info["voxels"] > 0
        assert ranges.edge_sigma_mm[0] <= info["edge_sigma_mm"] <= ranges.edge_sigma_mm[1]
    lesions_only = ranges.__class__(hypo_probability=1.0, rim_probability=0.0, necrosis_probability=0.0)
    ct, lesions = add_realistic_lesions(phantom.ct.array, organ, SPACING, count=1, size_mm=(8.0, 8.0), seed=1,
                                        ranges=lesions_only)
    mask = lesions[0].placement.mask
    assert ct[mask].mean() < phantom.ct.array[mask].mean() - 10


def test_realistic_rim_and_core():
    ct = np.full((30, 40, 40), 60.0, np.float32)
    ct[:, :, :3] = -1000
    organ = np.zeros(ct.shape, bool)
    organ[2:28, 3:37, 3:37] = True
    rim_core = LesionRanges(hypo_probability=1.0, rim_probability=1.0, necrosis_probability=1.0,
                            texture_std_hu=(0.1, 0.1))
    out, lesions = add_realistic_lesions(ct, organ, (1.0, 1.0, 1.0), 1, (10.0, 10.0), seed=0, ranges=rim_core)
    info = lesions[0].as_dict()
    assert info["rim_thickness_mm"] is not None and info["core_hu"] is not None
    mask = lesions[0].placement.mask
    depth = ndimage.distance_transform_edt(mask)
    assert out[mask & (depth >= depth.max() - 1)].mean() < 30           # fluid core
    assert out[mask & (depth > 1) & (depth < info["rim_thickness_mm"] - 0.5)].mean() > 65   # enhancing rim


def test_lesion_box():
    mask = np.zeros((10, 10, 10), bool)
    mask[4:6, 0:2, 7:9] = True
    assert lesion_box(mask, 2) == (slice(2, 8), slice(0, 4), slice(5, 10))


def cube(shape, start, size):
    mask = np.zeros(shape, bool)
    mask[tuple(slice(s, s + size) for s in start)] = True
    return mask


def test_dice_and_surface_dice_on_shifted_cubes():
    a, b = cube((32,) * 3, (10, 10, 10), 10), cube((32,) * 3, (12, 10, 10), 10)
    assert dice(a, b) == pytest.approx(0.8)
    # DeepMind's surface elements, 600 mm^2 per cube; within 0.5 mm of the other cube: the shared 8 mm of the four
    # side faces (320), a 0.5 mm strip below them (20) and the 0.5 mm rim of the face inside the other cube (19)
    assert surface_dice(a, b, (1.0, 1.0, 1.0), tolerance_mm=0.5) == pytest.approx(359 / 600, abs=0.005)
    assert surface_dice(a, b, (1.0, 1.0, 1.0), tolerance_mm=2.0) == 1.0
    assert surface_dice(a, b, (2.0, 1.0, 1.0), tolerance_mm=2.0) < 1.0      # the 2-voxel shift is now 4 mm
    assert surface_dice(a, b, (2.0, 1.0, 1.0), tolerance_mm=4.0) == 1.0
    assert surface_dice(a, a, (1.0, 1.0, 1.0)) == 1.0 and dice(a, a) == 1.0


def test_empty_cases():
    empty, some = np.zeros((8, 8, 8), bool), cube((8, 8, 8), (2, 2, 2), 3)
    assert np.isnan(dice(empty, empty)) and np.isnan(surface_dice(empty, empty, (1, 1, 1)))
    assert np.isnan(dice(some, empty)) and dice(empty, some) == 0.0                  # MONAI: NaN for an empty truth
    assert surface_dice(empty, some, (1, 1, 1)) == 0.0 == surface_dice(some, empty, (1, 1, 1))
    metrics = case_metrics(some, empty, (1.0, 1.0, 1.0))
    assert metrics["empty_truth"] and metrics["lesions"]["lesions"] == 0
    assert metrics["lesions"]["false_positive_components"] == 1 and np.isnan(metrics["lesions"]["sensitivity"])


def test_lesion_sensitivity_by_size_class():
    truth = cube((40, 40, 40), (2, 2, 2), 4) | cube((40, 40, 40), (15, 15, 15), 20)   # radius 2.5 and 12.4 mm
    pred = cube((40, 40, 40), (20, 20, 20), 3) | cube((40, 40, 40), (0, 30, 30), 2)
    result = lesion_sensitivity(pred, truth, (1.0, 1.0, 1.0))
    assert result["classes"]["tiny"] == {"lesions": 1, "detected": 0, "sensitivity": 0.0}
    assert result["classes"]["medium"] == {"lesions": 1, "detected": 1, "sensitivity": 1.0}
    assert result["lesions"] == 2 and result["sensitivity"] == 0.5 and result["false_positive_components"] == 1
    assert np.isnan(result["classes"]["large"]["sensitivity"])


def test_lesion_dice_by_size_class():
    truth = cube((40, 40, 40), (2, 2, 2), 4) | cube((40, 40, 40), (15, 15, 15), 20)   # radius 2.5 and 12.4 mm
    pred = cube((40, 40, 40), (20, 15, 15), 20) | cube((40, 40, 40), (30, 0, 0), 2)   # half of the big one, a FP
    tiny, medium = lesion_dice(pred, truth, (1.0, 1.0, 1.0))
    assert tiny == {"size_class": "tiny", "radius_mm": pytest.approx(2.48, abs=0.01), "voxels": 64, "dice": 0.0}
    assert medium["size_class"] == "medium" and medium["dice"] == pytest.approx(2 * 6000 / 16000)
