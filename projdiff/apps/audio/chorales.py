"""Multi-stem audio from the Bach chorales in music21's corpus, rendered voice by voice.

Recipe (``build_chorales``):

- Chorales: music21's ``corpus.chorales.Iterator()`` order, keeping four-part ones.
  Split by chorale, deterministic: positions 31-40 are the test set (the ten chorales of the
  separation baselines in ``shared/docs/separation-baselines.md``), 41-50 validation, and 1-30
  plus 51-``last`` training.
- Voices and General MIDI instruments: soprano = flute (73), alto = clarinet (71), tenor = cello
  (42), bass = bassoon (70) (0-based programs); repeats expanded on the whole score first (a
  chorale whose repeats music21 cannot expand is rendered once through), tempo quarter = 120.
- Each voice is written to its own MIDI file and rendered on its own with fluidsynth,
  ``-R 0 -C 0`` (no reverb, no chorus), gain 0.8, at the dataset's sample rate, with the given
  soundfont (FluidR3_GM by default, Debian ``fluid-soundfont-gm``). Stereo renders are averaged to
  mono float32; stems are zero-padded to a common length; the mixture is their exact sum.
- Output: ``ROOT/<split>/<chorale>/{soprano,alto,tenor,bass,mixture}.wav`` (float32 WAV) and
  ``ROOT/manifest.json``; chorales already in the manifest are not rendered again.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from projdiff.apps.audio.audio_io import write_audio
from projdiff.utils.files import write_json

STEMS = ("soprano", "alto", "tenor", "bass")
INSTRUMENTS = {"soprano": ("Flute", 73), "alto": ("Clarinet", 71), "tenor": ("Violoncello", 42),
               "bass": ("Bassoon", 70)}
FLUID_R3 = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")


@dataclass(frozen=True)
class ChoraleSplit:
    """Positions (1-based, in iterator order) of the test and validation chorales."""

    test: tuple[int, int] = (31, 40)
    validation: tuple[int, int] = (41, 50)

    def of(self, position: int) -> str:
        if self.test[0] <= position <= self.test[1]:
            return "test"
        if self.validation[0] <= position <= self.validation[1]:
            return "validation"
        return "train"


def four_part_chorales(count: int) -> list[str]:
    """Corpus paths (e.g. ``bach/bwv269``) of the first ``count`` four-part chorales."""
    from music21 import corpus

    out = []
    for name in corpus.chorales.Iterator(returnType="filename"):
        if len(corpus.parse(name).parts) == 4:
            out.append(name)
        if len(out) == count:
            break
    return out


def _voice_midis(name: str, folder: Path) -> dict[str, Path]:
    """Write one MIDI file per voice, with its instrument and tempo 120."""
    from music21 import corpus, instrument, stream, tempo

    score = corpus.parse(name)
    try:
        score = score.expandRepeats()
    except Exception:  # malformed repeat marks (e.g. bwv277): render once through
        for mark in score.recurse().getElementsByClass("RepeatMark"):
            mark.activeSite.remove(mark)
    paths = {}
    for voice, part in zip(STEMS, score.parts):
        flat = stream.Part()
        flat.insert(0, tempo.MetronomeMark(number=120))
        label, program = INSTRUMENTS[voice]
        inst = instrument.Instrument()
        inst.instrumentName, inst.midiProgram = label, program
        flat.insert(0, inst)
        for note in part.flatten().notesAndRests:
            flat.insert(note.getOffsetInHierarchy(part), note)
        path = folder / f"{voice}.mid"
        flat.write("midi", fp=str(path))
        paths[voice] = path
    return paths


def render_midi(midi: Path, sample_rate: int, soundfont: Path) -> np.ndarray:
    """Render a MIDI file with fluidsynth (no reverb/chorus) to mono float32 of shape (N,)."""
    import soundfile

    if shutil.which("fluidsynth") is None:
        raise FileNotFoundError("fluidsynth: not installed; apt-get install fluidsynth fluid-soundfont-gm")
    if not soundfont.is_file():
        raise FileNotFoundError(f"{soundfont}: soundfont not found; apt-get install fluid-soundfont-gm")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "out.wav"
        subprocess.run(["fluidsynth", "-ni", "-g", "0.8", "-R", "0", "-C", "0", "-r", str(sample_rate), "-F",
                        str(wav), str(soundfont), str(midi)], check=True, capture_output=True)
        audio, rate = soundfile.read(wav, dtype="float32", always_2d=True)
    if rate != sample_rate:
        raise RuntimeError(f"fluidsynth wrote {rate} Hz instead of {sample_rate} Hz")
    return audio.mean(axis=1)


def render_chorale(name: str, sample_rate: int, soundfont: Path) -> dict[str, np.ndarray]:
    """The four stems and their sum, mono float32 arrays of equal length."""
    with tempfile.TemporaryDirectory() as tmp:
        stems = {v: render_midi(p, sample_rate, soundfont) for v, p in _voice_midis(name, Path(tmp)).items()}
    length = max(len(s) for s in stems.values())
    stems = {v: np.pad(s, (0, length - len(s))) for v, s in stems.items()}
    stems["mixture"] = sum(stems[v] for v in STEMS).astype(np.float32)
    return stems


def build_chorales(root: str | Path, *, count: int = 120, sample_rate: int = 8000,
                   soundfont: str | Path = FLUID_R3, split: ChoraleSplit = ChoraleSplit(),
                   splits: tuple[str, ...] = ("train", "validation", "test"), progress: bool = True) -> dict:
    """Render (or complete) the dataset under ``root``; returns the manifest.

    ``splits`` restricts rendering to some splits (e.g. only ``("test",)`` with another soundfont,
    to measure a timbre shift).
    """
    root = Path(root)
    soundfont = Path(soundfont)
    manifest_path = root / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    settings = {"sample_rate": sample_rate, "soundfont": soundfont.name,
                "instruments": {v: f"{n} (GM {p})" for v, (n, p) in INSTRUMENTS.items()},
                "render": "fluidsynth -ni -g 0.8 -R 0 -C 0, mono = mean of the stereo channels",
                "split": {"test": list(split.test), "validation": list(split.validation)}}
    if manifest.get("settings", settings) != settings:
        raise ValueError(f"{manifest_path}: was built with other settings ({manifest['settings']}); "
                         "use another folder")
    tracks = manifest.get("tracks", {})
    names = four_part_chorales(count)
    for position, name in enumerate(names, 1):
        chorale = name.split("/")[-1]
        if chorale in tracks:
            continue
        part = split.of(position)
        if part not in splits:
            continue
        stems = render_chorale(name, sample_rate, soundfont)
        for stem, audio in stems.items():
            write_audio(root / part / chorale / f"{stem}.wav", torch.from_numpy(audio)[None], sample_rate)
        tracks[chorale] = {"split": part, "position": position, "corpus": name,
                           "seconds": round(len(stems["mixture"]) / sample_rate, 3)}
        write_json(manifest_path, {"settings": settings, "tracks": tracks})
        if progress:
            print(f"chorales: {position}/{len(names)} {chorale} ({part}, {tracks[chorale]['seconds']} s)", flush=True)
    manifest = {"settings": settings, "tracks": tracks}
    write_json(manifest_path, manifest)
    return manifest
