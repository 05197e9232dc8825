"""A small dataset laid out as 'projdiff data chorales' writes it (tones instead of fluidsynth renders)."""

import json

import numpy as np
import soundfile

from projdiff.apps.audio.chorales import STEMS

RATE = 8000


def fake_chorales(root, counts=(("train", 4), ("validation", 2), ("test", 1)), seconds=1.5):
    """A dataset laid out as 'projdiff data chorales' writes it: harmonic tones per stem, no fluidsynth."""
    g = np.random.default_rng(0)
    t = np.arange(int(seconds * RATE)) / RATE
    tracks, position = {}, 0
    for split, count in counts:
        for _ in range(count):
            position += 1
            name = f"bwv{position:03d}"
            for k, stem in enumerate(STEMS):
                pitch = 110 * 2 ** (k / 2 + g.uniform(0, 1))
                audio = 0.04 * np.sin(2 * np.pi * pitch * t) * (1 + 0.1 * g.standard_normal(t.shape))
                (root / split / name).mkdir(parents=True, exist_ok=True)
                soundfile.write(root / split / name / f"{stem}.wav", audio.astype(np.float32), RATE, subtype="FLOAT")
            tracks[name] = {"split": split, "position": position, "corpus": f"bach/{name}", "seconds": seconds}
    settings = {"sample_rate": RATE, "soundfont": "none.sf2", "instruments": {}, "render": "test tones",
                "split": {"test": [0, 0], "validation": [0, 0]}}
    (root / "manifest.json").write_text(json.dumps({"settings": settings, "tracks": tracks}))
    return root

