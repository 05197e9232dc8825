"""Supervised NMF: dictionaries written once ('projdiff fit-nmf') and the NMF warm start of 'separate'."""

import numpy as np
import pytest
import soundfile
import torch
from chorale_fixtures import RATE, fake_chorales

from projdiff.apps.audio.chorales import STEMS
from projdiff.apps.audio.nmf import NMFModel
from projdiff.apps.audio.stems import load_tracks
from projdiff.cli import main


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return fake_chorales(tmp_path_factory.mktemp("chorales"))


@pytest.fixture(scope="module")
def dictionary_file(data, tmp_path_factory):
    path = tmp_path_factory.mktemp("nmf") / "nmf.safetensors"
    assert main(["fit-nmf", "--stems", str(data / "train"), "--out", str(path), "--components", "4",
                 "--iterations", "20", "--quiet"]) == 0
    return path


def test_dictionaries_round_trip_and_separate_close_to_the_mixture(data, dictionary_file):
    model = NMFModel.load(dictionary_file)
    tracks, _ = load_tracks(data / "train", STEMS)
    fitted = NMFModel.fit(tracks, RATE, STEMS, components=4, iterations=20)
    assert model.stems == STEMS and model.sample_rate == RATE and model.iterations == 20
    assert all(torch.equal(a, b) for a, b in zip(model.dictionaries, fitted.dictionaries))
    mixture = torch.as_tensor(tracks[0]).sum(0)
    stems = model.separate(mixture)
    assert stems.shape == (4, mixture.shape[0])
    torch.testing.assert_close(stems.sum(0), mixture, atol=1e-4, rtol=0)   # masks sum to 1


def test_cli_warm_start_from_nmf(data, dictionary_file, tiny_audio_prior_dir, tmp_path, capsys):
    mixture = sum(soundfile.read(data / "test" / "bwv007" / f"{s}.wav")[0] for s in STEMS)
    soundfile.write(tmp_path / "mix.wav", mixture.astype(np.float32), RATE, subtype="FLOAT")
    common = ["separate", str(tmp_path / "mix.wav"), "--prior", str(tiny_audio_prior_dir), "--quiet"]
    assert main(common + ["--init", "nmf", "--nmf", str(dictionary_file), "--steps", "2", "--init-sigma", "0.01",
                          "--out", str(tmp_path / "warm")]) == 0
    assert len(list((tmp_path / "warm").glob("mix_*.wav"))) == 4
    assert main(common + ["--init", "nmf", "--out", str(tmp_path / "x")]) == 2
    assert "--init nmf and --nmf FILE go together" in capsys.readouterr().err
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    junk = ["--init", "nmf", "--nmf", str(tmp_path / "junk.safetensors"), "--out", str(tmp_path / "y")]
    assert main(common + junk) == 2
    assert "junk.safetensors: not an NMF dictionary file" in capsys.readouterr().err


def test_init_nmf_uses_the_dictionaries_the_prior_folder_ships(data, dictionary_file, tiny_audio_prior_dir, tmp_path):
    import shutil

    prior = tmp_path / "prior"
    shutil.copytree(tiny_audio_prior_dir, prior)
    shutil.copy(dictionary_file, prior / "nmf.safetensors")
    mixture = sum(soundfile.read(data / "test" / "bwv007" / f"{s}.wav")[0] for s in STEMS)
    soundfile.write(tmp_path / "mix.wav", mixture.astype(np.float32), RATE, subtype="FLOAT")
    common = ["separate", str(tmp_path / "mix.wav"), "--prior", str(prior), "--quiet", "--init", "nmf", "--steps", "1"]
    assert main(common + ["--out", str(tmp_path / "shipped")]) == 0
    assert main(common + ["--nmf", str(dictionary_file), "--out", str(tmp_path / "given")]) == 0
    for s in STEMS:   # the same dictionaries, the same seed: the same stems
        assert np.array_equal(soundfile.read(tmp_path / "shipped" / f"mix_{s}.wav")[0],
                              soundfile.read(tmp_path / "given" / f"mix_{s}.wav")[0])


def test_init_sigma_above_the_priors_highest_noise_level_is_refused(data, dictionary_file, tiny_audio_prior_dir,
                                                                     tmp_path, capsys):
    mixture = sum(soundfile.read(data / "test" / "bwv007" / f"{s}.wav")[0] for s in STEMS)
    soundfile.write(tmp_path / "mix.wav", mixture.astype(np.float32), RATE, subtype="FLOAT")
    code = main(["separate", str(tmp_path / "mix.wav"), "--prior", str(tiny_audio_prior_dir), "--init", "nmf",
                 "--nmf", str(dictionary_file), "--init-sigma", "3.4e38", "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 2 and "--init-sigma: expected a noise level above the prior's lowest" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_dictionaries_of_other_stems_are_refused(data, tmp_path, tiny_audio_prior_dir, capsys):
    tracks, _ = load_tracks(data / "train", STEMS)
    NMFModel.fit(tracks, RATE, ("a", "b", "c", "d"), components=2, iterations=2).save(tmp_path / "other.safetensors")
    soundfile.write(tmp_path / "mix.wav", tracks[0].sum(0), RATE, subtype="FLOAT")
    code = main(["separate", str(tmp_path / "mix.wav"), "--prior", str(tiny_audio_prior_dir), "--init", "nmf",
                 "--nmf", str(tmp_path / "other.safetensors"), "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 2 and "dictionaries of the stems a, b, c, d" in capsys.readouterr().err
