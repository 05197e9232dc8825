"""The training archive (16-bit FLAC in bounded tar parts) and training from it in two legs, the second
on a copy of the output folder (as after moving it to another machine)."""

import json
import shutil

import numpy as np
import pytest
import soundfile
import torch
from chorale_fixtures import RATE, fake_chorales

from projdiff.apps.audio.archive import read_archive, write_archive
from projdiff.apps.audio.chorales import STEMS
from projdiff.apps.audio.stems import load_tracks
from projdiff.cli import main


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return fake_chorales(tmp_path_factory.mktemp("chorales"))


def test_archive_parts_are_bounded_and_decode_to_the_stems(dataset, tmp_path):
    index = write_archive(dataset, tmp_path / "arch", STEMS, max_bytes=100_000)
    assert len(index["parts"]) >= 3
    assert all((tmp_path / "arch" / p["file"]).stat().st_size <= 100_000 for p in index["parts"])
    for split in ("train", "validation", "test"):
        archived, rate = read_archive(tmp_path / "arch", split)
        original, _ = load_tracks(dataset / split, STEMS)
        assert rate == RATE and len(archived) == len(original)
        for a, b in zip(archived, original):
            assert a.shape == b.shape and np.abs(a - b).max() <= 1 / 32767


def test_archive_scales_loud_tracks_instead_of_clipping(tmp_path):
    root = fake_chorales(tmp_path / "data", counts=(("train", 1),))
    path = root / "train" / "bwv001" / "bass.wav"
    soundfile.write(path, np.linspace(-1.6, 1.6, int(1.5 * RATE), dtype=np.float32), RATE, subtype="FLOAT")
    write_archive(root, tmp_path / "arch", STEMS)
    (track,), _ = read_archive(tmp_path / "arch", "train")
    assert abs(float(np.abs(track[3]).max()) - 1.6) < 1e-3


def test_a_damaged_or_missing_part_is_named(dataset, tmp_path):
    index = write_archive(dataset, tmp_path / "arch", STEMS, max_bytes=100_000)
    first = tmp_path / "arch" / index["parts"][0]["file"]
    first.write_bytes(first.read_bytes()[:-1000])
    with pytest.raises(ValueError, match="part-000.tar: damaged or incomplete part"):
        read_archive(tmp_path / "arch", "train")
    first.unlink()
    with pytest.raises(FileNotFoundError, match="part-000.tar: missing part"):
        read_archive(tmp_path / "arch", "train")


def test_cli_data_chorales_writes_the_archive(dataset, tmp_path, capsys, monkeypatch):
    import projdiff.apps.audio.chorales as chorales

    monkeypatch.setattr(chorales, "build_chorales",  # rendering itself is not under test here
                        lambda root, **kwargs: json.loads((dataset / "manifest.json").read_text()))
    code = main(["data", "chorales", "--out", str(dataset), "--archive", str(tmp_path / "arch"), "--part-mb", "0.1"])
    assert code == 0
    out = capsys.readouterr().out
    assert "7 tracks in" in out and (tmp_path / "arch" / "archive.json").is_file()


def _train(data, out, steps):
    return main(["train", "--data", f"chorales:{data}", "--model", "audio-tiny", "--image-size", "256",
                 "--channels", "4", "--batch-size", "4", "--steps", str(steps), "--checkpoint-every", "2",
                 "--out", str(out), "--quiet"])


def test_training_from_the_archive_in_two_legs_on_a_moved_folder(dataset, tmp_path):
    write_archive(dataset, tmp_path / "arch", STEMS)
    first = tmp_path / "machine-a" / "run"
    assert _train(tmp_path / "arch", first, 2) == 0
    state = (first / "checkpoints" / "step-0000002" / "trainer_state.json").read_text()
    assert str(tmp_path) not in state                        # nothing in a checkpoint names this machine's paths
    moved = tmp_path / "machine-b" / "run"
    shutil.copytree(first, moved)
    shutil.rmtree(tmp_path / "machine-a")
    assert _train(tmp_path / "arch", moved, 4) == 0
    summary = json.loads((moved / "training_summary.json").read_text())
    assert summary["step"] == 4
    assert [(leg["from_step"], leg["to_step"]) for leg in summary["legs"]] == [(0, 2), (2, 4)]
    assert summary["wall_seconds"] == pytest.approx(sum(leg["seconds"] for leg in summary["legs"]), abs=0.2)
    card = (moved / "README.md").read_text()
    assert "in 2 leg(s)" in card and "| 1 | 0 -> 2 |" in card and "| 2 | 2 -> 4 |" in card
    assert "archive.json (16-bit FLAC)" in card

    from projdiff import load_prior
    from projdiff.apps.audio.separation import separate
    from projdiff.apps.audio.stem_prior import AudioPrior

    audio_prior = AudioPrior.of(load_prior(moved))
    assert audio_prior.card.stems == STEMS and audio_prior.card.segment == 256
    stems = separate(0.05 * torch.randn(1, 600, generator=torch.Generator().manual_seed(0)), RATE, audio_prior,
                     steps=2)
    assert stems.shape == (1, 4, 600) and torch.isfinite(stems).all()


def test_preset_data_can_be_replaced(tmp_path):
    """'--preset chorales --data chorales:ARCHIVE': the preset's recipe on another copy of its data."""
    import argparse

    from projdiff.cli.train import add_arguments, recipe_of

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--preset", "chorales", "--data", f"chorales:{tmp_path}", "--out", "x", "--steps", "1"])
    recipe = recipe_of(args)
    assert recipe.data.root == tmp_path and recipe.shape == (4, 8192) and recipe.batch_size == 16
    plain = recipe_of(parser.parse_args(["--preset", "chorales", "--out", "x", "--steps", "1"]))
    assert str(plain.data.root) == "runs/data/chorales-8k"
