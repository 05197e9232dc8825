"""Independent priors over groups of channels, joined into one prior: ``D(x)_k = D_k(x_k)``.

A joint prior over several signals (e.g. the stems of a mixture) can be one prior per signal,
trained apart: the joint density is the product of theirs, and its exact denoiser is each part's
denoiser applied to its own channels at the shared noise level (ISDM, Mariani et al. 2023).

On disk a folder holds one sub-folder per part (a diffusers prior folder each) and a
``projdiff.json`` that names them in channel order: ``{"parts": ["a", "b"], "metadata": {...}}``.
``load_prior`` reads such a folder.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Sequence

import torch

from projdiff.priors.base import Prior
from projdiff.priors.diffusers_prior import WRAPPER_CONFIG, DiffusersPrior

PART_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class IndependentPriors(Prior):
    """The prior of independent parts, one per group of channels, in order.

    Parameters
    ----------
    parts : sequence of Prior
        Each with a known channel count (``shape[0]``) and the same trailing shape; the joint item
        shape is ``(sum of channels, *trailing)``. Parts trained on a noise grid must share it.
    metadata : dict, optional
        What an application needs to use the joint prior (as ``DiffusersPrior.metadata``).

    The noise range is the one all parts cover; ``exact`` holds when every part is exact.
    """

    def __init__(self, parts: Sequence[Prior], metadata: dict | None = None):
        super().__init__()
        if not parts:
            raise ValueError("parts: expected at least one prior, got none")
        shapes = [p.shape for p in parts]
        if any(s is None or s[0] is None for s in shapes) or len({tuple(s[1:]) for s in shapes}) != 1:
            raise ValueError(f"parts: expected known channel counts and one trailing shape, got shapes {shapes}")
        grids = [p.sigmas for p in parts if p.sigmas is not None]
        if grids and (len(grids) != len(parts) or
                      not all(g.shape == grids[0].shape and torch.allclose(g, grids[0]) for g in grids)):
            raise ValueError("parts: expected the same training noise levels (sigmas) for every part")
        centers, trailing = [p.data_center for p in parts], tuple(shapes[0][1:])
        if all(isinstance(c, (int, float)) for c in centers) and len(set(centers)) == 1:
            self.data_center = float(centers[0])
        elif None not in trailing:
            self.data_center = torch.cat([torch.as_tensor(c, dtype=torch.float64).expand(int(s[0]), *trailing)
                                          for c, s in zip(centers, shapes)])
        else:
            raise ValueError("parts: expected one scalar data_center shared by every part (their item size is free)")
        self.parts = torch.nn.ModuleList(parts)
        self.metadata = dict(metadata or {})
        self.channels = [int(s[0]) for s in shapes]
        self.shape = (sum(self.channels), *shapes[0][1:])
        self.sigma_min = max(p.sigma_min for p in parts)
        self.sigma_max = min(p.sigma_max for p in parts)
        self.sigmas = grids[0] if grids else None
        spreads = [p.sigma_data for p in parts]
        self.sigma_data = (None if None in spreads else
                           float((sum(c * s**2 for c, s in zip(self.channels, spreads)) / self.shape[0]) ** 0.5))
        self.exact = all(p.exact for p in parts)

    def denoise(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return torch.cat([p.denoise(xk, sigma) for p, xk in zip(self.parts, x.split(self.channels, dim=1))], dim=1)

    def check_shape(self, shape) -> None:
        super().check_shape(shape)
        for part, channels in zip(self.parts, self.channels):
            part.check_shape((channels, *tuple(shape)[1:]))

    def save_pretrained(self, folder: str | Path, names: Sequence[str]) -> None:
        """Write each part to ``folder/<name>`` (diffusers priors) and ``folder/projdiff.json``."""
        names = _checked_names(list(names), len(self.parts), "names")
        for part, name in zip(self.parts, names):
            part.save_pretrained(Path(folder) / name)
        write_parts_config(folder, names, self.metadata)

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> "IndependentPriors":
        """Read a folder written by ``save_pretrained`` (or by ``write_parts_config`` beside the parts)."""
        config_file = Path(folder) / WRAPPER_CONFIG
        config = parts_config(config_file)
        if config is None:
            raise ValueError(f"{config_file}: expected a table with a list of 'parts'")
        names, metadata = config["parts"], config.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise ValueError(f"{config_file}: expected 'metadata' to be a table, got {type(metadata).__name__}")
        names = _checked_names(names, None, str(config_file))
        return cls([DiffusersPrior.from_pretrained(Path(folder) / name) for name in names], metadata)


def write_parts_config(folder: str | Path, names: Sequence[str], metadata: dict | None = None) -> None:
    """Write ``folder/projdiff.json`` naming the part folders of an ``IndependentPriors``, in channel order."""
    names = _checked_names(list(names), None, "names")
    Path(folder).mkdir(parents=True, exist_ok=True)
    text = json.dumps({"parts": names, "metadata": dict(metadata or {})}, indent=1)
    (Path(folder) / WRAPPER_CONFIG).write_text(text)


def parts_config(config_file: Path) -> dict | None:
    """The parsed ``projdiff.json`` of a folder of independent parts, or None when it is not one."""
    try:
        config = json.loads(config_file.read_text())
    except (OSError, ValueError):
        return None
    return config if isinstance(config, dict) and "parts" in config else None


def _checked_names(names, count: int | None, where: str) -> list[str]:
    if (not isinstance(names, list) or not names or not all(isinstance(n, str) and PART_NAME.fullmatch(n)
                                                             for n in names) or len(set(names)) != len(names)):
        raise ValueError(f"{where}: expected 'parts' to be distinct folder names (letters, digits, _ . -), "
                         f"got {names!r}")
    if count is not None and len(names) != count:
        raise ValueError(f"names: expected {count} names (one per part), got {len(names)}")
    return names
