"""A compact, movable copy of a multi-stem dataset: 16-bit FLAC in tar pieces of bounded size.

Made for training elsewhere (a GPU machine): ``projdiff data chorales --out ROOT --archive DIR``
packs the rendered stems of ``ROOT`` (``ROOT/<split>/<track>/<stem>.wav``) into ``DIR``, and
``projdiff train --data chorales:DIR`` trains from it as from ``ROOT``.

Layout of ``DIR``::

    archive.json        kind, the dataset's settings, the stems, the sample rate, one entry per
                        track (split, part, gain, samples, the dataset manifest's fields) and one per
                        part (file name, bytes, SHA-256)
    part-000.tar ...    tar files of at most ``max_bytes`` (default 60 MB) each, holding
                        ``<split>/<track>.flac``: one FLAC per track, one channel per stem, 16-bit PCM

Encoding: waveforms as they are, 16-bit (quantisation error at most 1/65534 per sample: for the
chorale stems, RMS about 0.05, some 75 dB below the signal); a track that would clip (peak over
all stems >= 0.999) is divided by its gain ``peak / 0.999`` first, and reading multiplies it back.
Unused high bits of quiet tracks compress well, so no per-track normalisation. The mixtures are not
stored (they are the sums of the stems).
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Sequence

import numpy as np

from projdiff.utils.files import atomic_write, write_json

KIND = "projdiff-stem-archive"
INDEX = "archive.json"
MAX_BYTES = 60_000_000
HEADROOM = 0.999


def _flac_bytes(track: np.ndarray, rate: int) -> bytes:
    """(K, N) float32 -> FLAC bytes (K channels, PCM_16)."""
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, track.T, rate, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def _member_bytes(payload: int) -> int:
    """Bytes a file of ``payload`` bytes takes in a tar file (header + data padded to 512)."""
    return 512 + -(-payload // 512) * 512


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_archive(root: str | Path, out: str | Path, stems: Sequence[str], *, max_bytes: int = MAX_BYTES,
                  splits: Sequence[str] = ("train", "validation", "test")) -> dict:
    """Pack the dataset under ``root`` (its ``manifest.json`` and stem WAVs) into ``out``; returns the index.

    Raises ``ValueError`` when one track alone does not fit in ``max_bytes``.
    """
    import soundfile

    root, out = Path(root), Path(out)
    manifest = json.loads((root / "manifest.json").read_text())
    rate = int(manifest["settings"]["sample_rate"])
    limit = max_bytes - 2 * 10240  # the end-of-archive blocks and record padding of tarfile
    tracks, parts, pending, pending_bytes = {}, [], [], 0

    def flush() -> None:
        nonlocal pending, pending_bytes
        if not pending:
            return
        name = f"part-{len(parts):03d}.tar"

        def write(tmp: Path) -> None:
            with tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
                for member, payload in pending:
                    info = tarfile.TarInfo(member)
                    info.size = len(payload)
                    tar.addfile(info, io.BytesIO(payload))

        atomic_write(out / name, write)
        parts.append({"file": name, "bytes": (out / name).stat().st_size, "sha256": _sha256(out / name)})
        pending, pending_bytes = [], 0

    for chorale, entry in sorted(manifest["tracks"].items(), key=lambda item: item[1]["position"]):
        if entry["split"] not in splits:
            continue
        audio = [soundfile.read(root / entry["split"] / chorale / f"{stem}.wav", dtype="float32")[0] for stem in stems]
        track = np.stack(audio)
        gain = max(1.0, float(np.abs(track).max()) / HEADROOM)
        payload = _flac_bytes(track / gain, rate)
        size = _member_bytes(len(payload))
        if size > limit:
            raise ValueError(f"{root / entry['split'] / chorale}: {size} bytes of FLAC exceed --part-mb alone")
        if pending_bytes + size > limit:
            flush()
        member = f"{entry['split']}/{chorale}.flac"
        pending.append((member, payload))
        pending_bytes += size
        tracks[chorale] = {**entry, "part": len(parts), "member": member, "gain": gain, "samples": track.shape[1]}
    flush()
    index = {"kind": KIND, "settings": manifest["settings"], "stems": list(stems), "sample_rate": rate,
             "encoding": "FLAC, one channel per stem, PCM_16 of waveform / gain", "parts": parts, "tracks": tracks}
    write_json(out / INDEX, index)
    return index


def is_archive(folder: str | Path) -> bool:
    return (Path(folder) / INDEX).is_file()


def read_index(folder: str | Path) -> dict:
    """The archive's ``archive.json``; ValueError naming it when it is not an archive index."""
    path = Path(folder) / INDEX
    try:
        index = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a stem archive index ({type(exc).__name__})") from None
    if not isinstance(index, dict) or index.get("kind") != KIND:
        raise ValueError(f"{path}: not a stem archive index (no kind = {KIND})")
    return index


def read_archive(folder: str | Path, split: str) -> tuple[list[np.ndarray], int]:
    """The tracks of one split as float32 arrays (K, N), by track name; returns ``(tracks, sample_rate)``.

    Every part is checked against its SHA-256 first: a missing or damaged part (an incomplete copy)
    is a ``FileNotFoundError`` / ``ValueError`` naming it.
    """
    import soundfile

    folder = Path(folder)
    index = read_index(folder)
    wanted = [e for _, e in sorted(index["tracks"].items()) if e["split"] == split]  # load_tracks' order
    if not wanted:
        raise FileNotFoundError(f"{folder}: the archive holds no {split} tracks")
    out = []
    for number in sorted({e["part"] for e in wanted}):
        part = index["parts"][number]
        path = folder / part["file"]
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing part of the archive {folder} (copy every part-*.tar)")
        if path.stat().st_size != part["bytes"] or _sha256(path) != part["sha256"]:
            raise ValueError(f"{path}: damaged or incomplete part (size or SHA-256 differs from {INDEX})")
    tars: dict[int, tarfile.TarFile] = {}
    try:
        for entry in wanted:
            tar = tars.setdefault(entry["part"], tarfile.open(folder / index["parts"][entry["part"]]["file"]))
            data, rate = soundfile.read(io.BytesIO(tar.extractfile(entry["member"]).read()), dtype="float32",
                                        always_2d=True)
            out.append(np.ascontiguousarray(data.T * np.float32(entry["gain"])))
    finally:
        for tar in tars.values():
            tar.close()
    return out, int(index["sample_rate"])
