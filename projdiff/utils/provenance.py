"""Provenance of the models an application uses: a hash of a model folder's files.

The hash (recorded in tumor sidecars) is the SHA-256 over the sorted relative paths and bytes of
the folder's weights and configs (``*.json``, ``*.safetensors``, ``*.bin``, ``*.pt``), leaving out
training checkpoints (``checkpoints/``) and run records (``training_summary.json``), so it names
exactly the weights and settings used.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from projdiff.utils.bundled import model_dir

HASHED_SUFFIXES = (".json", ".safetensors", ".bin", ".pt")
SKIPPED = ("checkpoints", "training_summary.json")


def folder_sha256(folder: str | Path) -> str:
    """SHA-256 (hex) of a model folder's weights and configs (see the module docstring)."""
    folder = Path(folder)
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_file() and path.suffix in HASHED_SUFFIXES and not set(relative.parts) & set(SKIPPED):
            digest.update(relative.as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


def checkpoint_info(name: str | Path) -> dict:
    """``{"source": name, "sha256": hash or None}`` (None when the model is not a local folder)."""
    folder = model_dir(name)
    return {"source": str(name), "sha256": folder_sha256(folder) if folder is not None else None}
