"""A procedural 3D abdominal CT phantom: organs, fat, muscle, spine and bowel gas in HU.

Each structure is a smooth randomly deformed ellipsoid (``projdiff.apps.tumor.ct.shapes``) placed in
an axial cross-section of the body; the anatomy scales with the field of view, so a small test
volume holds the same (smaller) abdomen. Seeded and deterministic: the same arguments give the
same bits.

HU values (non-contrast CT; each structure's value is shifted by one draw from U(-5, 5) HU per
phantom):

================  =======  ======================================
structure         HU       placement
================  =======  ======================================
air (outside)     -1000
bowel_gas          -900    3-6 pockets in the anterior cavity
fat                -100    outer ring of the body; 3-8 mm around
                           the kidneys and pancreas
muscle               50    abdominal wall ring, paraspinal muscles
body                 25    remaining soft tissue of the cavity
liver                60    patient's right, upper
spleen               50    patient's left, posterior, upper
kidney_left/right    30    beside the spine
pancreas             40    across the midline, in front of the aorta
aorta                40    left-anterior of the spine (no contrast)
spine          400 / 700   vertebral body and posterior arch: cancellous core / 2 mm cortex
================  =======  ======================================

Image formation: the piecewise-constant HU map is blurred (partial volume, Gaussian sigma 0.6
voxel along D, 0.5 in-plane), organ texture is added (smooth field, 8 mm correlation, 4 HU std)
and CT noise (white Gaussian noise blurred with sigma 0.4 voxel along D and 0.8 in-plane, then
scaled to ``noise_hu`` std, default 15 HU).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from projdiff.apps.tumor.ct.cases import Case
from projdiff.apps.tumor.ct.grid import grid_for
from projdiff.apps.tumor.ct.labels import DEFAULT_LABELS
from projdiff.apps.tumor.ct.shapes import deformed_ellipsoid, rotation_in_plane, smooth_noise
from projdiff.apps.tumor.ct.volume import Volume
from projdiff.utils.seeds import derive_seed

AIR_HU = -1000.0
PHANTOM_HU = {"bowel_gas": -900.0, "fat": -100.0, "muscle": 50.0, "body": 25.0, "liver": 60.0,
              "spleen": 50.0, "kidney_left": 30.0, "kidney_right": 30.0, "pancreas": 40.0, "aorta": 40.0,
              "spine": 400.0}
CORTEX_HU, CORTEX_MM = 700.0, 2.0
# (structure, centre (t, v, u), semi-axes (t, v, u), in-plane rotation in degrees, roughness) in body units:
# t = z / half length (+ superior), v = posterior offset / AP semi-axis, u = left offset / LR semi-axis.
ORGANS = (
    ("aorta", (0.0, 0.36, 0.07), (5.0, 0.10, 0.075), 0.0, 0.03),
    ("kidney_left", (-0.2, 0.45, 0.40), (0.55, 0.20, 0.16), 20.0, 0.08),
    ("kidney_right", (-0.3, 0.45, -0.40), (0.55, 0.20, 0.16), -20.0, 0.08),
    ("liver", (0.35, -0.02, -0.42), (0.65, 0.60, 0.40), 0.0, 0.12),
    ("spleen", (0.40, 0.30, 0.58), (0.35, 0.28, 0.15), -30.0, 0.10),
    ("pancreas", (0.0, 0.12, 0.15), (0.15, 0.10, 0.33), -15.0, 0.12),
)


def _canonical_affine(shape: tuple[int, int, int], spacing: tuple[float, float, float]) -> np.ndarray:
    """(d, h, w) -> RAS+ mm with D superior, H posterior, W left, centred on the world origin."""
    affine = np.zeros((4, 4))
    affine[2, 0], affine[1, 1], affine[0, 2], affine[3, 3] = spacing[0], -spacing[1], -spacing[2], 1.0
    affine[:3, 3] = -affine[:3, :3] @ ((np.asarray(shape) - 1) / 2.0)
    return affine


def make_phantom(shape: tuple[int, int, int] = (64, 200, 200), spacing: tuple[float, float, float] = (2.5, 1.5, 1.5),
                 seed: int = 0, noise_hu: float = 15.0, axcodes: tuple[str, str, str] = ("R", "A", "S")) -> Case:
    """Build a phantom CT and its label map.

    Parameters
    ----------
    shape : tuple of 3 ints
        (D, H, W) voxels (default (64, 200, 200): 160 x 300 x 300 mm at the default spacing).
    spacing : tuple of 3 floats
        Voxel size along (D, H, W) in mm (default 2.5 mm slices, 1.5 mm in-plane).
    seed : int
    noise_hu : float
        Standard deviation of the CT noise in HU (default 15).
    axcodes : tuple of 3 str
        Axis directions of the on-disk grid the phantom pretends to come from (default RAS).

    Returns
    -------
    Case
        ``ct.array`` (D, H, W) float32 HU, ``labels`` (D, H, W) uint8 in ``DEFAULT_LABELS``,
        ``ct.grid`` with the chosen spacing, layout ``phantom``.
    """
    if len(shape) != 3 or min(shape) < 2 or len(spacing) != 3 or min(spacing) <= 0:
        raise ValueError(f"phantom: expected a 3D shape >= 2 and positive spacing, got {shape}, {spacing}")
    rng = np.random.default_rng(derive_seed("phantom", seed))
    space = DEFAULT_LABELS
    fov = np.asarray(shape) * np.asarray(spacing)
    half_length = fov[0] / 2
    lr = 0.45 * fov[2]
    ap = min(0.45 * fov[1], 0.75 * lr)
    centre = (np.asarray(shape) - 1) / 2.0

    def place(t, v, u):
        return centre + np.array([t * half_length, v * ap, u * lr]) / np.asarray(spacing)

    def ellipsoid(position, semi, angle=0.0, roughness=0.05):
        semi_mm = (semi[0] * half_length, semi[1] * ap, semi[2] * lr)
        return deformed_ellipsoid(shape, spacing, place(*position), semi_mm, rng,
                                  rotation=rotation_in_plane(np.radians(angle)), roughness=roughness)

    labels = np.zeros(shape, np.uint8)

    def paint(name, mask, over=("body",)):
        allowed = np.isin(labels, [space.code(n) for n in over]) if over else np.ones(shape, bool)
        labels[mask & allowed] = space.code(name)

    fat_ratio, wall_ratio = 1.0 - rng.uniform(0.07, 0.12), rng.uniform(0.90, 0.94)
    paint("fat", ellipsoid((0, 0, 0), (5.0, 1.0, 1.0), roughness=0.02), over=None)
    paint("muscle", ellipsoid((0, 0, 0), (5.0, fat_ratio, fat_ratio), roughness=0.02), over=("fat",))
    paint("body", ellipsoid((0, 0.02, 0), (5.0, fat_ratio * wall_ratio, fat_ratio * wall_ratio), roughness=0.02),
          over=("muscle",))
    paint("spine", ellipsoid((0, 0.62, 0), (5.0, 0.15, 0.13), roughness=0.03), over=None)
    paint("spine", ellipsoid((0, 0.84, 0), (5.0, 0.12, 0.04), roughness=0.03), over=None)
    for side in (-1, 1):
        paint("muscle", ellipsoid((0, 0.78, side * 0.2), (5.0, 0.15, 0.13), roughness=0.05))
    for name, position, semi, angle, roughness in ORGANS:
        paint(name, ellipsoid(position, semi, angle + rng.uniform(-8, 8), roughness))
    for name in ("kidney_left", "kidney_right", "pancreas"):
        outside = ndimage.distance_transform_edt(labels != space.code(name), sampling=spacing)
        paint("fat", outside <= rng.uniform(3.0, 8.0))
    for _ in range(int(rng.integers(3, 7))):
        position = (rng.uniform(-0.8, 0.8), rng.uniform(-0.75, -0.15), rng.uniform(-0.5, 0.6))
        size = rng.uniform(0.06, 0.14)
        paint("bowel_gas", ellipsoid(position, (size * lr / half_length, size * lr / ap, size), roughness=0.2))

    table = np.full(256, AIR_HU, np.float32)
    for name, value in PHANTOM_HU.items():
        table[space.code(name)] = value + rng.uniform(-5.0, 5.0)
    hu = table[labels]
    spine = labels == space.code("spine")
    depth = ndimage.distance_transform_edt(spine, sampling=spacing)
    hu[spine & (depth <= CORTEX_MM)] = CORTEX_HU
    hu = ndimage.gaussian_filter(hu, (0.6, 0.5, 0.5))
    hu += 4.0 * smooth_noise(shape, spacing, 8.0, rng) * (labels > 0)
    noise = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), (0.4, 0.8, 0.8))
    hu += noise * (noise_hu / max(float(noise.std()), 1e-6))
    grid = grid_for(shape, _canonical_affine(shape, spacing), axcodes)
    return Case("phantom", Volume(hu.astype(np.float32), grid, f"phantom(seed={seed})"), labels, "phantom", space)
