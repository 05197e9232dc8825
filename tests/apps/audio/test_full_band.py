"""Full band and sample formats: stems sum to the input mixture at its own rate, the band above the prior's
Nyquist frequency goes to the stems that sound at the top of the prior's band, and outputs keep the input's
sample format."""

import pytest
import soundfile
import torch

import projdiff
from projdiff.apps.audio.full_band import assign_residual
from projdiff.apps.audio.separation import generate, separate
from projdiff.apps.audio.stem_prior import AudioPrior
from projdiff.cli import main

RATE = 22050


def tones(*parts, seconds=0.5, rate=RATE):
    """Sum of (amplitude, frequency in Hz) sines, shape (N,)."""
    t = torch.arange(int(seconds * rate), dtype=torch.float64) / rate
    return sum(a * torch.sin(2 * torch.pi * f * t) for a, f in parts).float()


def band_energy(x: torch.Tensor, low: float, high: float, rate: int = RATE) -> float:
    spectrum = torch.fft.rfft(x.double()).abs() ** 2
    freqs = torch.fft.rfftfreq(x.shape[-1], 1 / rate)
    return float(spectrum[..., (freqs >= low) & (freqs < high)].sum())


@pytest.fixture(scope="module")
def audio_prior(tiny_audio_prior_dir):
    return AudioPrior.of(projdiff.load_prior(tiny_audio_prior_dir))        # 8 kHz


def test_stems_of_a_22khz_mixture_sum_to_it_and_share_its_top_band(audio_prior):
    # four instruments with harmonics from the prior's band (< 4 kHz) up to 9 kHz
    stems = torch.stack([tones((0.05, f), (0.02, 3 * f), (0.01, 5 * f), (0.01, 9 * f / 2))
                         for f in (330.0, 440.0, 590.0, 1300.0)])
    mixture = stems.sum(0)[None]
    assert band_energy(mixture, 4000, RATE / 2) > 0.01 * band_energy(mixture, 0, RATE / 2)
    out = separate(mixture, RATE, audio_prior, steps=2, seed=0)
    assert out.shape == (1, 4, mixture.shape[-1])
    # float tolerance: the random test prior's stems are large (hundreds), their float32 rounding is not
    torch.testing.assert_close(out.sum(1), mixture, atol=4 * 2**-23 * float(out.abs().max()), rtol=0)
    above = [band_energy(out[0, k], 4000, RATE / 2) for k in range(4)]
    assert min(above) > 1e-3 * band_energy(mixture, 4000, RATE / 2), above


def test_odd_lengths_come_back_at_their_length(audio_prior):
    mixture = tones((0.1, 440.0), seconds=11026 / RATE)[None]
    assert separate(mixture, RATE, audio_prior, steps=2).shape == (1, 4, 11026)


def test_the_top_band_follows_the_stems_that_sound_at_the_top_of_the_prior_band():
    low_stems = torch.stack([tones((0.1, 3000.0)), tones((0.1, 500.0))])[None]   # only stem 0 sounds in 2-4 kHz
    mixture = low_stems.sum(1) + tones((0.05, 6000.0))[None]
    out = assign_residual(low_stems, mixture, RATE, 8000)
    torch.testing.assert_close(out.sum(1), mixture, atol=1e-6, rtol=0)
    assert band_energy(out[0, 1], 4500, 8000) < 1e-6 * band_energy(out[0, 0], 4500, 8000)


def test_with_a_noisy_mixture_only_the_band_above_the_prior_is_assigned():
    denoised = torch.stack([tones((0.1, 3000.0)), tones((0.1, 500.0))])[None]
    noise_in_band = tones((0.02, 1000.0))[None]
    mixture = denoised.sum(1) + noise_in_band + tones((0.05, 6000.0))[None]
    out = assign_residual(denoised, mixture, RATE, 8000, in_band=False)
    assert band_energy(out.sum(1) - denoised.sum(1), 900, 1100) < 1e-4 * band_energy(noise_in_band, 900, 1100)
    assert band_energy(out.sum(1) - mixture, 5000, 7000) < 1e-4 * band_energy(mixture, 5000, 7000)


def test_generation_returns_the_given_stem_in_full_band(audio_prior):
    melody = tones((0.1, 440.0), (0.03, 7000.0))[None]
    out = generate({"soprano": melody}, RATE, audio_prior, steps=2)
    assert out.shape == (1, 4, melody.shape[-1])
    assert torch.equal(out[:, 0], melody)


@pytest.mark.parametrize("subtype", ["PCM_16", "FLOAT"])
def test_stems_keep_the_input_sample_format(tiny_audio_prior_dir, tmp_path, subtype):
    mixture = tones((0.1, 440.0), (0.05, 5000.0)).numpy()
    soundfile.write(tmp_path / "mix.wav", mixture, RATE, subtype=subtype)
    assert main(["separate", str(tmp_path / "mix.wav"), "--prior", str(tiny_audio_prior_dir), "--steps", "2",
                 "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert main(["generate", "--given", f"soprano={tmp_path / 'mix.wav'}", "--prior", str(tiny_audio_prior_dir),
                 "--steps", "2", "--out", str(tmp_path / "gen"), "--quiet"]) == 0
    written = list((tmp_path / "out").glob("*.wav")) + list((tmp_path / "gen").glob("*.wav"))
    assert len(written) == 9 and {soundfile.info(p).subtype for p in written} == {subtype}
