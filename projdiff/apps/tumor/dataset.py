"""Tumor synthesis over many cases: a folder of cases in, a dataset out, resumable.

``synthesize_cases`` treats one case at a time (load, synthesize, write) and keeps its bookkeeping
in ``OUT/.projdiff-tumor/``:

====================  =====================================================================
``settings.json``     what the outputs depend on (backend, prior, seed, sizes, layout, tumour
                      code...); a run with other settings into the same folder is refused
                      unless ``overwrite``
``started/<case>``    a case whose files are being written: the next run may replace them
``done/<case>.json``  a finished case: its files (relative to OUT) and label table
====================  =====================================================================

A case is done once its record exists and its files are all there; a later run skips it without
reading it, so an interrupted run continues where it stopped. Every file is written atomically
(never half a file under its name), the record last. Files that exist but belong to no started or
finished case of ours are refused (``FileExistsError``) unless ``overwrite``. Bad input stops the run
before that case writes anything. In the nnU-Net layout, ``dataset.json`` (v2: ``channel_names``,
``labels``, ``numTraining``, ``file_ending``) is written when every input of the run is done, from
the records, so a dataset.json never counts cases that are missing. Outputs are deterministic, so two
runs with the same settings into one folder write the same bytes: running them together wastes work
but mixes nothing.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable, Sequence

from projdiff.apps.tumor.ct.cases import Case, case_name
from projdiff.apps.tumor.label_table import LabelTable
from projdiff.apps.tumor.outputs import output_paths, write_tumor_outputs
from projdiff.apps.tumor.synthesis import TumorResult
from projdiff.utils.files import check_free, write_bytes, write_json

FOLDER = ".projdiff-tumor"


class Ledger:
    """The bookkeeping folder ``OUT/.projdiff-tumor`` (see the module docstring)."""

    def __init__(self, out: str | Path):
        self.out = Path(out)
        self.root = self.out / FOLDER
        self.forget = False  # other settings and --overwrite: forget the earlier cases at the first write

    def _record(self, name: str) -> Path:
        return self.root / "done" / f"{name}.json"

    def check_settings(self, settings: dict, overwrite: bool) -> None:
        """FileExistsError when OUT holds outputs made with other settings (unless ``overwrite``)."""
        path = self.root / "settings.json"
        if not path.is_file():
            return
        before = json.loads(path.read_text())
        changed = sorted(k for k in set(before) | set(settings) if before.get(k) != settings.get(k))
        self.forget = bool(changed)
        if changed and not overwrite:
            key = changed[0]
            raise FileExistsError(f"{self.out}: holds outputs made with other settings ({key}: {before.get(key)!r}, "
                                  f"now {settings.get(key)!r}); use another --out or pass --overwrite")

    def is_done(self, name: str) -> bool:
        record = self._record(name)
        if not record.is_file():
            return False
        return all((self.out / rel).is_file() for rel in json.loads(record.read_text())["outputs"])

    def is_started(self, name: str) -> bool:
        return (self.root / "started" / name).is_file()

    def start(self, name: str, settings: dict) -> None:
        if self.forget:
            shutil.rmtree(self.root / "done", ignore_errors=True)
            self.forget = False
        write_json(self.root / "settings.json", settings)
        self._record(name).unlink(missing_ok=True)
        write_bytes(self.root / "started" / name, b"")

    def finish(self, name: str, paths: dict[str, Path], table: LabelTable, dataset: dict) -> None:
        write_json(self._record(name), {"case": name, "outputs": [str(p.relative_to(self.out)) for p in paths.values()],
                                        "labels": table.as_dict(), "channel_names": _channel_names(dataset)})
        (self.root / "started" / name).unlink(missing_ok=True)

    def records(self) -> list[dict]:
        return [json.loads(p.read_text()) for p in sorted((self.root / "done").glob("*.json"))]


def _channel_names(dataset: dict) -> dict[str, str]:
    """The input dataset's channel names (nnU-Net v2 ``channel_names`` or MSD ``modality``), else CT."""
    names = dataset.get("channel_names") or dataset.get("modality") or {"0": "CT"}
    return {str(k): str(v) for k, v in names.items()}


def write_dataset_json(out: Path, records: list[dict], description: str) -> Path:
    """nnU-Net v2 ``OUT/dataset.json`` for the finished cases ``records``."""
    labels = {}
    for record in records:
        labels.update(record["labels"])
    path = Path(out) / "dataset.json"
    write_json(path, {"channel_names": records[0]["channel_names"], "labels": dict(sorted(labels.items(),
                                                                                           key=lambda kv: kv[1])),
                      "numTraining": len(records), "file_ending": ".nii.gz", "description": description})
    return path


def synthesize_cases(inputs: Sequence[Path | None], load: Callable[[Path | None], Case],
                     synthesize: Callable[[Case], TumorResult], out: str | Path, settings: dict, organ: str,
                     count: int, summary: bool = False, layout: str = "flat", tumor_code: int | None = None,
                     overwrite: bool = False, report: Callable[[str], None] = lambda line: None) -> list[TumorResult]:
    """Synthesize and write every input not done yet (see the module docstring).

    Parameters
    ----------
    inputs : sequence of Path or None
        Case paths (None: a case ``load`` makes without a path, e.g. the demo).
    load, synthesize : callables
        ``load(path) -> Case``; ``synthesize(case) -> TumorResult``.
    out : str or Path
        Output folder.
    settings : dict
        JSON values the outputs depend on (compared with those of earlier runs into ``out``).
    organ, count, summary
        The host organ, lesions per case and whether a summary is written (a quality filter), for
        the names of the files (``outputs.output_paths``).
    layout, tumor_code
        As ``outputs.write_tumor_outputs`` and ``label_table.LabelTable.for_case``.
    overwrite : bool
        Redo finished cases and replace existing files; forget other settings.
    report : callable
        Receives one line per skipped case.

    Returns
    -------
    list of TumorResult
        The cases synthesized by this call (not those skipped).
    """
    out = Path(out)
    ledger = Ledger(out)
    ledger.check_settings(settings, overwrite)
    results, names = [], []
    for item in inputs:
        name = case_name(item) if item is not None else None
        if name is not None and not overwrite and ledger.is_done(name):
            report(f"{name}: done before, skipped (--overwrite redoes it)")
            names.append(name)
            continue
        case = load(item)
        names.append(case.name)
        if not overwrite and ledger.is_done(case.name):
            report(f"{case.name}: done before, skipped (--overwrite redoes it)")
            continue
        table = LabelTable.for_case(case, tumor_code)
        paths = output_paths(out, case, organ, count, layout, summary)
        if not ledger.is_started(case.name):
            check_free(paths.values(), overwrite)
        result = synthesize(case)
        ledger.start(case.name, settings)
        write_tumor_outputs(out, result, layout, table, overwrite=True)
        ledger.finish(case.name, paths, table, case.source.dataset if case.source else {})
        results.append(result)
    if layout == "nnunet" and all(ledger.is_done(n) for n in names):
        write_dataset_json(out, ledger.records(), f"synthetic lesions by projdiff tumor ({settings.get('backend')})")
    return results

