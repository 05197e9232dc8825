"""Figures quoted in prose are tied to their sources, so that a re-run that changes them fails here.

Sources: the bundled priors' ``training_summary.json`` and weights (model cards), the model cards'
sampler tables (README's SI-SDRi), ``benchmarks/RESULTS.md`` (README's coverage range).
"""

import json
import math
import re
from pathlib import Path

import diffusers
import pytest

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "projdiff" / "bundled"
README = (ROOT / "README.md").read_text()
RESULTS = (ROOT / "benchmarks" / "RESULTS.md").read_text()
STEMS = ("soprano", "alto", "tenor", "bass")
ISDM_PARTS = [f"chorales-isdm/{stem}" for stem in STEMS]     # each part of the joint ISDM prior is a prior
TRAINED = ["fashion-mnist-32", "lesions", "chorales"] + ISDM_PARTS


def unet_parameters(folder: Path) -> int:
    """``sum(p.numel() for p in unet.parameters())`` (what ``projdiff train`` writes) of the folder's UNet config."""
    config = json.loads((folder / "config.json").read_text())
    unet = getattr(diffusers, config["_class_name"]).from_config(config)
    return sum(p.numel() for p in unet.parameters())


def half_up(value: float) -> int:
    return math.floor(value + 0.5)


@pytest.mark.parametrize("name", TRAINED)
def test_model_card_figures_match_the_training_summary_and_weights(name):
    """Guards the cards' parameter count, steps, wall time and held-out loss against what training recorded."""
    card = (BUNDLED / name / "README.md").read_text()
    summary = json.loads((BUNDLED / name / "training_summary.json").read_text())
    parameters = int(re.search(r"^([\d,]+) parameters\.", card, re.M).group(1).replace(",", ""))
    assert parameters == unet_parameters(BUNDLED / name / "unet")
    assert int(re.search(r"^- Steps: (\d+) at", card, re.M).group(1)) == summary["step"]
    assert int(re.search(r"^- Wall time: (\d+) s", card, re.M).group(1)) == round(summary["wall_seconds"])
    loss = re.search(r"^- Held-out denoising loss .*: ([\d.]+)$", card, re.M).group(1)
    assert float(loss) == round(summary["heldout_loss"], len(loss.split(".")[1]))


def test_isdm_card_parts_table_is_the_parts_training_summaries():
    card = (BUNDLED / "chorales-isdm" / "README.md").read_text()
    for stem in STEMS:
        summary = json.loads((BUNDLED / "chorales-isdm" / stem / "training_summary.json").read_text())
        row = re.search(rf"^\| {stem} \| ([\d,]+) \| (\d+) \| (\d+) \| (\d+) \| ([\d.]+) \|$", card, re.M)
        assert int(row[1].replace(",", "")) == unet_parameters(BUNDLED / "chorales-isdm" / stem / "unet")
        assert (int(row[2]), int(row[3]), int(row[4])) == (summary["step"], round(summary["wall_seconds"]),
                                                           len(summary["legs"]))
        assert float(row[5]) == round(summary["heldout_loss"], 5)


def test_readme_si_sdri_is_the_chorale_cards_chosen_sampler():
    """'4 dB SI-SDRi on average on validation excerpts' is the card's bold (chosen) average, rounded."""
    quoted = float(re.search(r"\(([\d.]+) dB SI-SDRi on average on validation excerpts\)", README).group(1))
    card = (BUNDLED / "chorales" / "README.md").read_text()
    chosen = float(re.search(r"\| \*\*30 steps.*\| \*\*([\d.]+)\*\* \|", card).group(1))
    assert quoted == round(chosen)


def test_readme_coverage_range_is_the_conformance_table():
    """'covers 87-91%': the range of the default rule's coverage in RESULTS.md's conformance section."""
    lo, hi = (int(v) for v in re.search(r"covers (\d+)-(\d+)%", README).groups())
    section = RESULTS.split("## Exact-posterior conformance at 100 steps")[1].split("\n## ")[0]
    header, rows = None, []
    for line in section.splitlines():
        if line.startswith("| problem"):
            header = [c.strip() for c in line.strip("|").split("|")]
        elif header and line.startswith("| ") and not line.startswith("|---"):
            rows.append([c.strip() for c in line.strip("|").split("|")])
        elif header and rows:
            break
    column = header.index("default coverage")
    coverage = [100 * float(row[column]) for row in rows]
    assert len(coverage) == 20
    low, high = half_up(min(coverage)), half_up(max(coverage))
    assert lo <= low and high <= hi                                          # the range holds every problem
    assert low - lo <= 1 and hi - high <= 1                                  # and is not loose


def test_readme_photo_figures_are_the_photo_benchmarks():
    """Every 'A dB against B' of the README's photo paragraph is a projdiff / baseline pair of RESULTS.md's
    test-photograph tables (benchmarks/photos.py)."""
    paragraph = README.split("On the 5 test photographs")[1].split("\n\n")[0]
    pairs = re.findall(r"(\d+\.\d\d)(?:\s+dB)?\s+against[^\d]*?(\d+\.\d\d)", paragraph)
    assert len(pairs) >= 6
    tables = "".join(part.split("\n## ")[0] for part in RESULTS.split("## Restoring photographs")[1:]
                     if "test photographs" in part.split("\n")[0])
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in tables.splitlines() if line.startswith("| ")]
    psnr = {row[4] for row in rows if len(row) > 4}
    for ours, baseline in pairs:
        assert ours in psnr and baseline in psnr, (ours, baseline)
