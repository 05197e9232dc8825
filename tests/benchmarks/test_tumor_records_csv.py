"""benchmarks/tumor.py: records rebuilt from its CSV rows (``--import-csv``) give the tables the records gave."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from tumor import ARMS, paired_table, read_csv, summary_table, write_csv  # noqa: E402


def fake_records(seeds, rng) -> dict[str, dict[int, dict]]:
    """arm -> seed -> record, shaped like run_unit's (3 cases of 1-3 lesions each)."""
    out = {arm: {} for arm in ARMS}
    for arm in ARMS:
        for seed in seeds:
            cases = [{"case": k, "dice": float(rng.random()), "nsd": float(rng.random()), "lesions": n,
                      "detected": int(rng.integers(0, n + 1)), "fp_components": int(rng.integers(0, 5)),
                      "per_lesion": [{"size_class": ("tiny", "small", "medium")[j], "radius_mm": 3.0 + 5 * j,
                                      "voxels": 10, "dice": float(rng.random())} for j in range(n)]}
                     for k, n in enumerate((3, 1, 2))]
            out[arm][seed] = {"seed": seed, "arm": arm, "cases": cases, "acceptance": [["liver", "tiny", True, 1]],
                              "jump_ratio": 1.5, "draws": []}
    return out


def test_records_rebuilt_from_the_csv_rows_give_the_same_paired_differences(tmp_path):
    records = fake_records([0, 3, 4], np.random.default_rng(0))
    write_csv(records, tmp_path)
    rebuilt = read_csv(tmp_path, [0, 4])
    assert {k for k in rebuilt if "|unit:" in k} == {"0|unit:projdiff", "0|unit:handcrafted", "4|unit:projdiff",
                                                    "4|unit:handcrafted"}
    for seed in (0, 4):
        for arm in ARMS:
            got, want = rebuilt[f"{seed}|{arm}"], records[arm][seed]
            assert got["source"] and "acceptance" not in got
            for a, b in zip(got["cases"], want["cases"], strict=True):
                assert a["dice"] == round(b["dice"], 5) and a["detected"] == b["detected"]
                assert [les["size_class"] for les in a["per_lesion"]] == [les["size_class"] for les in b["per_lesion"]]
    by_arm = {arm: {s: rebuilt[f"{s}|{arm}"] for s in (0, 4)} for arm in ARMS}
    kept = {arm: {s: records[arm][s] for s in (0, 4)} for arm in ARMS}
    assert paired_table(by_arm, 0.05) == paired_table(kept, 0.05)   # differences agree to the table's 3 decimals
    assert "| projdiff | 2 |" in summary_table(by_arm) and "| - | - |" in summary_table(by_arm)


def test_a_mix_of_rebuilt_and_full_records_counts_the_acceptance_of_the_full_ones_only(tmp_path):
    records = fake_records([0, 1], np.random.default_rng(1))
    write_csv(records, tmp_path)
    rebuilt = read_csv(tmp_path, [1])
    mixed = {arm: {0: records[arm][0], 1: rebuilt[f"1|{arm}"]} for arm in ARMS}
    assert "1/1 (1 draws; 1 seeds)" in summary_table(mixed)
