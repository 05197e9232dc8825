"""Files that ship inside the package (``projdiff/bundled/NAME``) and the ``bundled:NAME`` names of models.

Every model option (``--prior``, ``--judge``, ``--discriminator``, ``load_prior``) reads the same
three kinds of name: ``bundled:NAME``, a local folder, or (for priors only) a Hugging Face hub id.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

BUNDLED_DIR = Path(__file__).resolve().parent.parent / "bundled"
PREFIX = "bundled:"


def bundled_names(holds: Callable[[Path], bool] = Path.is_dir) -> list[str]:
    """Names of the bundled folders for which ``holds(folder)`` is true, sorted."""
    if not BUNDLED_DIR.is_dir():
        return []
    return sorted(p.name for p in BUNDLED_DIR.iterdir() if p.is_dir() and holds(p))


def bundled_path(name: str) -> Path:
    """The folder ``projdiff/bundled/NAME`` (it may not exist)."""
    return BUNDLED_DIR / name


def bundled_name(name: str | Path) -> str | None:
    """``NAME`` of ``bundled:NAME``; None for any other name."""
    text = str(name)
    return text[len(PREFIX):] if text.startswith(PREFIX) else None


def model_dir(name: str | Path) -> Path | None:
    """The folder of ``bundled:NAME`` or of a local folder; None for anything else (e.g. a hub id)."""
    bundled = bundled_name(name)
    path = Path(name) if bundled is None else bundled_path(bundled)
    return path if path.is_dir() else None
