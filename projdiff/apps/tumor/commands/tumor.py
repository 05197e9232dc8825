"""``projdiff tumor``: synthesize tumors inside an organ of an abdominal CT."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from projdiff.apps.arguments import add_device_options, finite, positive, seed
from projdiff.apps.base import Command
from projdiff.apps.tumor.commands import finetune_adversarial, train_discriminator, train_judge


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ct", help="case folder, NIfTI file, DICOM folder or DICOM file; or a dataset folder "
                   "(nnU-Net imagesTr/labelsTr, or a folder of AbdomenAtlas case folders): every case")
    p.add_argument("--demo", action="store_true", help="use a real CT slice (pydicom-data) or the phantom")
    p.add_argument("--organ", default="liver", help="host organ (default liver)")
    p.add_argument("--organ-mask", help="NIfTI mask of --organ on the CT's grid (for inputs without labels)")
    p.add_argument("--count", type=positive(int), default=1, help="lesions per case (default 1)")
    p.add_argument("--size", default="small", help="lesion radius: a range like 10-20mm, or tiny (3-5 mm), small "
                   "(6-10), medium (12-20), large (24-40); default small")
    p.add_argument("--lesion-type", help="lesion mean HU: hypodense (default: organ - 80 .. - 20 HU), hyperdense "
                   "(organ + 15 .. + 60), cystic (0 .. 20 HU) or free (the prior decides); see docs/tumor.md")
    p.add_argument("--backend", default="projdiff", help="lesion appearance: projdiff (default: ProjDiff inpainting "
                   "with a learned lesion prior) or handcrafted (SynTumor-style baseline)")
    p.add_argument("--prior", help="projdiff backend: lesion prior, bundled:NAME or a folder (default bundled:lesions)")
    p.add_argument("--steps", type=positive(int, at_most=100_000),
                   help="projdiff backend: noise levels per slice stack (default 50)")
    p.add_argument("--judge", help="quality filter: tumor judge folder (projdiff tumor train-judge); "
                   "default: no filter")
    p.add_argument("--threshold", type=finite, help="quality filter: accept a lesion when this share of its voxels "
                   "is judged tumor (default 0.5)")
    p.add_argument("--retries", type=positive(int, at_most=1000), help="quality filter: redraws of a rejected lesion before it is dropped "
                   "(default 10)")
    p.add_argument("--discriminator", help="quality filter, optional second judge: a real-versus-synthetic "
                   "discriminator folder or bundled:NAME (projdiff tumor train-discriminator)")
    p.add_argument("--realism-threshold", type=finite, help="quality filter: accept a lesion only when this share "
                   "of its voxels is judged real by --discriminator (default 0.5)")
    p.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    p.add_argument("--out", default="tumors", help="output folder (default tumors); a rerun into it continues "
                   "where the last one stopped")
    p.add_argument("--layout", default="flat", help="output layout: flat (default: NAME_ct.nii.gz, "
                   "NAME_labels.nii.gz), nnunet (imagesTr/, labelsTr/, dataset.json) or abdomenatlas "
                   "(NAME/ct.nii.gz, NAME/segmentations/)")
    p.add_argument("--tumor-code", type=int, help="label code of the synthetic lesions (default: the input's tumour "
                   "label if it has one, else one above its largest code; 16 for the project's codes)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    add_device_options(p)


def _check_options(args: argparse.Namespace, backends) -> None:
    """One input; a known backend; learned-backend and filter options only with their backend or judge."""
    if args.demo == (args.ct is not None):
        raise ValueError("--ct: give a CT case, file or DICOM folder, or --demo (not both)")
    if args.organ_mask is not None and args.ct is None:
        raise ValueError("--organ-mask: only with --ct")
    if args.backend not in backends:
        raise ValueError(f"--backend: expected one of {', '.join(backends)}, got {args.backend!r}")
    if args.backend != "projdiff":
        for flag, value in (("--prior", args.prior), ("--steps", args.steps)):
            if value is not None:
                raise ValueError(f"{flag}: only with --backend projdiff")
    if args.judge is None:
        for flag, value in (("--threshold", args.threshold), ("--retries", args.retries),
                            ("--discriminator", args.discriminator)):
            if value is not None:
                raise ValueError(f"{flag}: only with --judge")
    if args.discriminator is None and args.realism_threshold is not None:
        raise ValueError("--realism-threshold: only with --discriminator")
    if args.backend == "handcrafted" and args.lesion_type not in (None, "hypodense", "hyperdense"):
        raise ValueError(f"--lesion-type {args.lesion_type}: the handcrafted backend draws hypodense or hyperdense "
                         "lesions only")
    from projdiff.apps.tumor.ct.labels import DEFAULT_LABELS

    try:
        DEFAULT_LABELS.organ_code(args.organ)
    except ValueError as exc:
        raise ValueError(f"--organ: {exc}") from None


def _settings(args: argparse.Namespace, size_mm: tuple[float, float], backend, quality) -> dict:
    """What the outputs depend on (``dataset.Ledger``: a rerun with other settings is refused)."""
    checkpoints = [getattr(backend, "checkpoint", None)] + \
        ([quality.judge.checkpoint, getattr(quality.discriminator, "checkpoint", None)] if quality else [])
    return {"organ": args.organ, "organ_mask": args.organ_mask, "count": args.count, "size_mm": list(size_mm),
            "backend": args.backend, "lesion_type": getattr(backend, "lesion_type", None), "steps": args.steps,
            "seed": args.seed, "layout": args.layout, "tumor_code": args.tumor_code,
            "checkpoints": [c["sha256"] for c in checkpoints if c],
            "filter": None if quality is None else [quality.threshold, quality.retries, quality.realism_threshold]}


def run(args: argparse.Namespace) -> int:
    from projdiff.apps.arguments import device_of, dtype_of
    from projdiff.apps.tumor.ct.cases import dataset_cases, load_case
    from projdiff.apps.tumor.dataset import synthesize_cases
    from projdiff.apps.tumor.demo import demo_case
    from projdiff.apps.tumor.discriminator import RealismDiscriminator
    from projdiff.apps.tumor.judge import TumorJudge
    from projdiff.apps.tumor.lesion_masks import parse_size
    from projdiff.apps.tumor.lesion_types import DEFAULT_LESION_TYPE, lesion_type
    from projdiff.apps.tumor.outputs import LAYOUTS
    from projdiff.apps.tumor.synthesis import BACKENDS, QualityFilter, make_backend, synthesize_tumors

    _check_options(args, BACKENDS)
    size_mm = parse_size(args.size)
    device, dtype = device_of(args.device), dtype_of(args.dtype)
    if args.layout not in LAYOUTS:
        raise ValueError(f"--layout: expected one of {', '.join(LAYOUTS)}, got {args.layout!r}")
    kind = lesion_type(args.lesion_type or DEFAULT_LESION_TYPE).name
    quality = None
    if args.judge is not None:
        judges = [TumorJudge.load(args.judge)] + ([RealismDiscriminator.load(args.discriminator)]
                                                  if args.discriminator else [])
        for judge in judges:
            judge.model.to(device)
        given = {"threshold": args.threshold, "retries": args.retries, "realism_threshold": args.realism_threshold,
                 "discriminator": judges[1] if args.discriminator else None}
        quality = QualityFilter(judges[0], **{k: v for k, v in given.items() if v is not None})
    cases = dataset_cases(args.ct) if args.ct is not None else None
    if cases is not None and args.organ_mask is not None:
        raise ValueError(f"--organ-mask: one mask fits one case, and {args.ct} is a dataset folder of {len(cases)}")
    inputs = cases if cases is not None else [None if args.demo else args.ct]
    if args.backend == "projdiff":
        learned = {"prior": args.prior, "steps": args.steps, "device": device, "dtype": dtype}
        backend = make_backend("projdiff", lesion_type=kind, **{k: v for k, v in learned.items() if v is not None})
    else:
        backend = make_backend("handcrafted", contrast="hyper" if kind == "hyperdense" else "hypo")

    def load(path):
        case = demo_case() if path is None else load_case(path, organ=args.organ, organ_mask=args.organ_mask)
        if args.organ_mask is None and not case.labels.any():
            raise ValueError(f"{path}: the CT has no labels; pass --organ-mask with a mask of the {args.organ} on "
                             "the CT's grid (NIfTI)")
        if not args.quiet:
            for note in case.notes:
                print(f"note: {note}", file=sys.stderr)
        return case

    def synthesize(case):
        drawer = replace(backend, spacing=case.ct.spacing) if args.backend == "projdiff" else backend
        result = synthesize_tumors(case, args.organ, args.count, size_mm, drawer, seed=args.seed, quality=quality)
        if not args.quiet:
            for k, lesion in enumerate(result.lesions, start=1):
                p = lesion.placement
                verdict = "" if lesion.scores is None else \
                    (f", accepted after {len(lesion.scores)} attempt(s), score {lesion.scores[-1]['fraction']:.2f}"
                     if lesion.accepted else f", dropped after {len(lesion.scores)} attempts")
                print(f"{case.name}: lesion {k} in the {args.organ}, radius {p.radius_mm:.1f} mm ({p.size_class}), "
                      f"{int(p.mask.sum())} voxels{verdict}")
        return result

    report = (lambda line: None) if args.quiet else print
    done = synthesize_cases(inputs, load, synthesize, args.out, _settings(args, size_mm, backend, quality),
                            args.organ, args.count, quality is not None, args.layout, args.tumor_code,
                            args.overwrite, report)
    if not args.quiet:
        print(f"wrote {len(done)} case(s) to {args.out} ({args.layout} layout)")
    return 0


COMMAND = Command(
    "tumor", "synthesize tumors inside an organ of an abdominal CT", add_arguments, run,
    epilog="examples:\n"
           "  projdiff tumor --ct BDMAP_00000001 --organ liver --count 2 --size 10-20mm --out t\n"
           "  projdiff tumor --ct Task03_Liver/imagesTr/liver_0_0000.nii.gz --size small --out t\n"
           "  projdiff tumor --ct dicom_series/ --organ-mask liver.nii.gz --out tumors\n"
           "  projdiff tumor --demo --out tumor_demo\n"
           "  projdiff tumor --ct Dataset003_Liver/ --layout nnunet --out Dataset503_LiverSynth   (every case)\n"
           "  projdiff tumor --ct BDMAP_00000001 --judge bundled:tumor-judge --out t   (quality filter)\n"
           "  projdiff tumor --ct BDMAP_00000001 --backend handcrafted --out t\n"
           "  projdiff tumor train-judge --out runs/tumor-judge   (also: train-discriminator, finetune-adversarial)\n"
           "inputs: an AbdomenAtlas case folder (ct.nii.gz + segmentations/), an nnU-Net/MSD image "
           "(labelsTr + dataset.json beside it),\n  a NIfTI file or a DICOM folder/file with --organ-mask, or a dataset folder of them\n"
           "outputs (--layout flat): NAME_ct.nii.gz (HU, int16), NAME_labels.nii.gz (the input's codes, tumour 16 "
           "or --tumor-code),\n  NAME_lesionK.json and NAME_lesionK.png, in the input's grid; with --judge also "
           "NAME_summary.json;\n  --layout nnunet: imagesTr/, labelsTr/, lesions/, dataset.json; --layout "
           "abdomenatlas: NAME/ct.nii.gz, NAME/segmentations/",
    actions=(train_judge.COMMAND, train_discriminator.COMMAND, finetune_adversarial.COMMAND))
