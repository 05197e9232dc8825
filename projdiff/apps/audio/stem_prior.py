"""A joint stem prior and what the audio application must know about it (its model-card metadata).

The prior models K stems at once (channels = stems) on waveform segments of ``segment`` samples at
``sample_rate`` Hz; model data = waveform / ``waveform_scale`` (the conversion is done once, by
``AffinePrior``). The facts are saved as the prior's ``projdiff.json`` metadata by the training
recipe (``StemPriorCard.to_dict``) and read back by ``AudioPrior.of`` (``StemPriorCard.from_dict``).

Sampler settings: a prior may recommend its own (``sampler``: steps, the noise range in waveform
units, and ProjDiff options, chosen on validation data, see the prior's model card); they are the
defaults of ``separate`` and ``generate`` and every explicit argument wins. Without a
recommendation the engine's defaults apply.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from projdiff.engine import karras_sigmas
from projdiff.priors import AffinePrior

KIND = "audio"


@dataclass(frozen=True)
class StemPriorCard:
    """The metadata of a joint stem prior (``projdiff.json``, ``"kind": "audio"``).

    Attributes
    ----------
    sample_rate : int
        Hz.
    stems : tuple of str
        Stem names in channel order.
    segment : int
        Samples per item the prior was trained on.
    waveform_scale : float
        Model data = waveform / waveform_scale.
    sampler : dict
        The recommended sampler (may be empty): ``steps``, ``sigma_min``/``sigma_max`` in waveform
        units, ProjDiff options.
    """

    sample_rate: int
    stems: tuple[str, ...]
    segment: int
    waveform_scale: float
    sampler: dict = field(default_factory=dict, hash=False)

    def to_dict(self) -> dict:
        return {"kind": KIND, "sample_rate": self.sample_rate, "stems": list(self.stems),
                "waveform_scale": self.waveform_scale, "segment": self.segment, "sampler": dict(self.sampler)}

    @classmethod
    def from_dict(cls, meta: dict) -> "StemPriorCard":
        """From a prior's metadata; ValueError when it is not an audio stem prior's."""
        if meta.get("kind") != KIND:
            raise ValueError("prior: not an audio stem prior (its projdiff.json metadata has no kind = audio)")
        try:
            card = cls(int(meta["sample_rate"]), tuple(str(s) for s in meta["stems"]), int(meta["segment"]),
                       float(meta["waveform_scale"]), dict(meta.get("sampler", {})))
        except KeyError as exc:
            raise ValueError(f"prior: its projdiff.json metadata has no {exc.args[0]!r} (an audio stem prior needs "
                             "sample_rate, stems, segment and waveform_scale)") from None
        except (TypeError, ValueError) as exc:
            raise ValueError(f"prior: unusable audio metadata in its projdiff.json ({exc})") from None
        if card.sample_rate <= 0 or card.segment <= 0 or not card.stems or not card.waveform_scale > 0:
            raise ValueError(f"prior: unusable audio metadata in its projdiff.json (sample_rate {card.sample_rate}, "
                             f"segment {card.segment}, {len(card.stems)} stems, waveform_scale {card.waveform_scale})")
        return card


@dataclass(frozen=True)
class AudioPrior:
    """A joint stem prior (``prior``, in model units) with its card."""

    prior: object
    card: StemPriorCard

    @classmethod
    def of(cls, prior) -> "AudioPrior":
        return cls(prior, StemPriorCard.from_dict(getattr(prior, "metadata", {}) or {}))

    def waveform_prior(self) -> AffinePrior:
        """The prior in waveform units."""
        return AffinePrior(self.prior, scale=self.card.waveform_scale)

    def solve_settings(self, steps: int | None, options: dict) -> tuple[int, dict]:
        """``(steps, options)`` for ``solve``: the prior's recommended sampler, then ``options``.

        The recommendation may hold ``steps``, ``sigma_max`` and ``sigma_min`` (waveform units; a
        Karras schedule between them) and any ProjDiff option (``step_size``, ``inner_steps``,
        ``momentum``, ...). ``steps=None`` takes the recommended count (else 100).
        """
        recommended = dict(self.card.sampler)
        recommended_steps = recommended.pop("steps", 100)
        steps = int(steps or recommended_steps)
        low, high = recommended.pop("sigma_min", None), recommended.pop("sigma_max", None)
        if low is not None and high is not None and "sigmas" not in options:
            recommended["sigmas"] = karras_sigmas(steps, float(low), float(high))
        return steps, {**recommended, **options}

    def describe_sampler(self, steps: int | None = None, **options) -> str:
        """One line naming the settings ``solve_settings`` gives, e.g. for reports."""
        steps, settings = self.solve_settings(steps, options)
        sigmas = settings.pop("sigmas", None)
        parts = [f"{steps} steps"]
        if sigmas is not None:
            parts.append(f"sigma {float(sigmas[0]):g} -> {float(sigmas[-1]):g} (waveform units)")
        parts += [f"{key} {value}" for key, value in sorted(settings.items())]
        return ", ".join(parts)

    def warm_start_sigmas(self, start: float, steps: int) -> torch.Tensor:
        """Karras noise levels (waveform units) from ``start`` down to the prior's lowest: the schedule of
        a warm start from a first estimate (``separate(init=...)``); the lowest is the recommended
        ``sigma_min``, else the prior's own ``sigma_min`` in waveform units; ``start`` may be at most the
        prior's highest, ``sigma_max`` in waveform units."""
        low = self.card.sampler.get("sigma_min", self.prior.sigma_min * self.card.waveform_scale)
        high = self.prior.sigma_max * self.card.waveform_scale
        if not 0 < float(low) < start <= high:
            raise ValueError(f"--init-sigma: expected a noise level above the prior's lowest ({float(low):g}) "
                             f"and at most its highest ({high:g}), got {start:g}")
        return karras_sigmas(steps, float(low), float(start))
