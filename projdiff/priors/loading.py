"""``load_prior``: one name scheme for Python and the ``--prior`` option of the CLI.

- ``bundled:NAME``: a prior shipped inside the package (``projdiff/bundled/NAME``);
- a local folder holding a diffusers model (see ``DiffusersPrior.from_pretrained``), or independent
  priors over groups of channels, one such folder each (see ``IndependentPriors``);
- ``owner/name``: a Hugging Face hub id (needs a network);
- a guided-diffusion (ADM) checkpoint file, e.g. ``ffhq_10m.pt`` (see ``priors/guided_diffusion.py``);
- a multi-source diffusion model (MSDM) checkpoint, a ``.ckpt`` file (see ``priors/msdm.py``).
"""

from __future__ import annotations

from pathlib import Path

from projdiff.priors.diffusers_prior import WRAPPER_CONFIG, DiffusersPrior
from projdiff.priors.guided_diffusion import ADMArchitecture, load_adm_prior
from projdiff.priors.independent import IndependentPriors, parts_config
from projdiff.priors.msdm import MSDMPrior, load_msdm_prior
from projdiff.utils.bundled import PREFIX, bundled_name, bundled_names, bundled_path


def _holds_unet(folder: Path) -> bool:
    return (folder / "unet").is_dir() or (folder / "config.json").is_file() or _holds_parts(folder)


def _holds_parts(folder: Path) -> bool:
    return parts_config(folder / WRAPPER_CONFIG) is not None


def _from_folder(folder: Path) -> DiffusersPrior | IndependentPriors:
    return IndependentPriors.from_pretrained(folder) if _holds_parts(folder) else DiffusersPrior.from_pretrained(folder)


def bundled_priors() -> list[str]:
    """Names of the priors shipped with the package."""
    return bundled_names(_holds_unet)


def load_prior(name_or_dir: str | Path, *,
               preset: str | ADMArchitecture | None = None) -> DiffusersPrior | IndependentPriors | MSDMPrior:
    """Load a prior by name (``bundled:NAME``), folder, hub id, ADM or MSDM (``.ckpt``) checkpoint file.

    ``preset`` applies to ADM checkpoint files only (``load_adm_prior``); by default the preset
    whose architecture matches the file's tensor shapes.

    Raises
    ------
    FileNotFoundError
        Unknown bundled name or a folder without a model; the message names it and lists the
        bundled priors.
    """
    text = str(name_or_dir)
    if Path(text).suffix == ".ckpt":
        if preset is not None:
            raise ValueError(f"preset: applies to ADM checkpoint files (.pt), not to {text}")
        return load_msdm_prior(text)
    if Path(text).is_file() or Path(text).suffix in (".pt", ".pth"):
        return load_adm_prior(text, preset)
    if preset is not None:
        raise ValueError(f"preset: applies to ADM checkpoint files (.pt), not to {text}")
    name = bundled_name(text)
    if name is not None:
        if name not in bundled_priors():
            raise FileNotFoundError(f"prior: no bundled prior {name!r}; bundled: "
                                    f"{', '.join(PREFIX + n for n in bundled_priors()) or 'none'}")
        return _from_folder(bundled_path(name))
    path = Path(text)
    if not path.exists() and (text.startswith((".", "/", "~")) or text.count("/") != 1):
        raise FileNotFoundError(f"prior: {text} is neither a folder nor a hub id (owner/name) nor "
                                f"bundled:NAME (bundled: {', '.join(PREFIX + n for n in bundled_priors()) or 'none'})")
    return _from_folder(path) if path.is_dir() else DiffusersPrior.from_pretrained(path)
