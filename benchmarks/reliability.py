"""Reliability of the command line: bad inputs to every interface, and kills during work.

    python benchmarks/reliability.py --write     # every case + the kill experiments; RESULTS.md section
    python benchmarks/reliability.py             # the same, printed only
    python benchmarks/reliability.py --quick     # the first cases of each interface, no kills (smoke test)
    python benchmarks/reliability.py --interfaces fit-nmf,"train chorales:ARCHIVE" --write
                                                 # those interfaces only, no kills; a section of their own

Bad inputs. Every case of ``CASES`` runs ``projdiff ARGS`` in a child process against files built
here (tiny random priors, images, audio, a CT, DICOM objects, job files; nothing is downloaded) and
is handled cleanly when all of these hold:

- exit code 2 and exactly one line on stderr, ``projdiff ...: error: ...``, no traceback;
- nothing under the case's output folder (it is absent or empty afterwards; for the cases that
  start with existing outputs, those are unchanged);
- every input file is unchanged (SHA-256 of every file of the workspace outside the case folders).

The same cases run in-process in the test suite (``tests/cli/test_bad_inputs.py``).

Kills. ``restore`` (3 images) and ``run`` (a job of 6 items) are killed with SIGKILL or SIGTERM at
a moment drawn uniformly over the length of an uninterrupted run, then the same command is run
again. A kill is survived when the rerun exits 0 and the output folder holds exactly the files
of the uninterrupted run, byte-identical (``_metrics.json`` compared without its timings), with
no temporary file anywhere.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _results import emit, table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NON_UTF8 = os.fsdecode(b"caf\xe9")  # a Latin-1 name: not valid UTF-8


@dataclass(frozen=True)
class Case:
    """``projdiff ARGS`` with placeholders: {out} (the case's output folder), {case} (its own folder,
    where ``files`` are written first) and the workspace's files (see ``Workspace.paths``)."""

    interface: str
    name: str
    args: tuple[str, ...]
    files: tuple[tuple[str, str], ...] = ()   # (name in the case folder, text)
    existing_out: bool = False                 # the output folder starts with files (must stay unchanged)


def _job(body: str, inputs: str = '["{image}"]', extra: str = "") -> tuple[tuple[str, str], ...]:
    """A job file ``job.toml`` in the case folder with the tiny prior, 1 step and ``body``."""
    return (("job.toml", f'prior = "{{prior}}"\nsteps = 1\nout = "out"\ninputs = {inputs}\n{extra}{body}'),)


SR4 = '[[tasks]]\ntask = "sr4"\n'
R = ("restore", "{image}", "--prior", "{prior}", "--steps", "1", "--out", "{out}", "--quiet")
S = ("separate", "{mix}", "--prior", "{audio_prior}", "--steps", "1", "--out", "{out}", "--quiet")
G = ("generate", "--prior", "{audio_prior}", "--steps", "1", "--out", "{out}", "--quiet")
T = ("tumor", "--out", "{out}", "--quiet", "--backend", "handcrafted")
NMF = ("fit-nmf", "--stems", "{stems}", "--out", "{out}/nmf.safetensors", "--components", "2", "--iterations", "2",
       "--quiet")
ARCH = ("train", "--data", "chorales:{archive}", "--model", "audio-tiny", "--image-size", "256", "--channels", "4",
        "--batch-size", "2", "--steps", "1", "--out", "{out}", "--quiet")
TRAIN = ("train", "--model", "tiny", "--data", "folder:{train_images}", "--image-size", "8", "--steps", "2",
         "--out", "{out}", "--quiet")

CASES: tuple[Case, ...] = (
    # restore: options
    Case("restore", "--task missing", R),
    Case("restore", "--task sr5", R + ("--task", "sr5")),
    Case("restore", "--sigma-y nan", R + ("--task", "sr4", "--sigma-y", "nan")),
    Case("restore", "--sigma-y inf", R + ("--task", "sr4", "--sigma-y", "inf")),
    Case("restore", "--sigma-y -1", R + ("--task", "sr4", "--sigma-y", "-1")),
    Case("restore", "--step-size nan", R + ("--task", "sr4", "--step-size", "nan")),
    Case("restore", "--step-size inf", R + ("--task", "sr4", "--step-size", "inf")),
    Case("restore", "--step-size 1e30", R + ("--task", "sr4", "--step-size", "1e30")),
    Case("restore", "--step-size 0", R + ("--task", "sr4", "--step-size", "0")),
    Case("restore", "--blur-sigma 1e30", R + ("--task", "deblur", "--blur-sigma", "1e30")),
    Case("restore", "--blur-sigma nan", R + ("--task", "deblur", "--blur-sigma", "nan")),
    Case("restore", "--motion 100000", R + ("--task", "deblur", "--motion", "100000")),
    Case("restore", "--samples 0", R + ("--task", "sr4", "--samples", "0")),
    Case("restore", "--samples 1000000", R + ("--task", "sr4", "--samples", "1000000")),
    Case("restore", "--steps 0", R + ("--task", "sr4", "--steps", "0")),
    Case("restore", "--steps 1e9", R + ("--task", "sr4", "--steps", "1000000000")),
    Case("restore", "--seed -1", R + ("--task", "sr4", "--seed", "-1")),
    Case("restore", "--seed 2**64", R + ("--task", "sr4", "--seed", str(2**64))),
    Case("restore", "--fraction 1.5", R + ("--task", "inpaint", "--fraction", "1.5")),
    Case("restore", "--fraction nan", R + ("--task", "inpaint", "--fraction", "nan")),
    Case("restore", "--box 0,0,4", R + ("--task", "inpaint", "--box", "0,0,4")),
    Case("restore", "--box outside the image", R + ("--task", "inpaint", "--box", "30,30,10,10")),
    Case("restore", "--box with --mask", R + ("--task", "inpaint", "--box", "0,0,4,4", "--mask", "{mask}")),
    Case("restore", "--fraction with --box", R + ("--task", "inpaint", "--fraction", "0.3", "--box", "0,0,4,4")),
    Case("restore", "--mask missing", R + ("--task", "inpaint", "--mask", "{case}/missing.png")),
    Case("restore", "--mask of another size", R + ("--task", "inpaint", "--mask", "{mask_small}")),
    Case("restore", "--mask corrupt", R + ("--task", "inpaint", "--mask", "{corrupt_png}")),
    Case("restore", "--kernel negative", R + ("--task", "deblur", "--kernel", "{kernel_negative}")),
    Case("restore", "--kernel larger than the image", R + ("--task", "deblur", "--kernel", "{kernel_big}")),
    Case("restore", "--oversampling 100", R + ("--task", "phase", "--oversampling", "100")),
    Case("restore", "--oversampling 0.5", R + ("--task", "phase", "--oversampling", "0.5")),
    Case("restore", "--ratio 0", R + ("--task", "cs", "--ratio", "0")),
    Case("restore", "--fraction for sr4", R + ("--task", "sr4", "--fraction", "0.5")),
    Case("restore", "--size without --measurement", R + ("--task", "sr4", "--size", "32x32")),
    Case("restore", "--size 0x0", R + ("--task", "cs", "--measurement", "--size", "0x0")),
    Case("restore", "--measurement cs without --size", R + ("--task", "cs", "--measurement")),
    Case("restore", "--sigma_y (misspelt)", R + ("--task", "sr4", "--sigma_y", "0.1")),
    Case("restore", "--device cuda without CUDA", R + ("--task", "sr4", "--device", "cuda")),
    Case("restore", "--device tpu", R + ("--task", "sr4", "--device", "tpu")),
    Case("restore", "--dtype float64", R + ("--task", "sr4", "--dtype", "float64")),
    Case("restore", "colorize with a gray prior", R + ("--task", "colorize",)),
    # restore: inputs
    Case("restore", "image missing", ("restore", "{case}/missing.png", "--task", "sr4", "--prior", "{prior}",
                                      "--out", "{out}")),
    Case("restore", "image is a folder", ("restore", "{folder}", "--task", "sr4", "--prior", "{prior}",
                                          "--out", "{out}")),
    Case("restore", "corrupt PNG", ("restore", "{corrupt_png}", "--task", "sr4", "--prior", "{prior}", "--out",
                                    "{out}")),
    Case("restore", "truncated PNG", ("restore", "{truncated_png}", "--task", "sr4", "--prior", "{prior}", "--out",
                                      "{out}")),
    Case("restore", "empty PNG", ("restore", "{empty_png}", "--task", "sr4", "--prior", "{prior}", "--out", "{out}")),
    Case("restore", "text file named .png", ("restore", "{text_png}", "--task", "sr4", "--prior", "{prior}",
                                             "--out", "{out}")),
    Case("restore", "unsupported suffix", ("restore", "{notes_txt}", "--task", "sr4", "--prior", "{prior}",
                                           "--out", "{out}")),
    Case("restore", "NaN NPY", ("restore", "{nan_npy}", "--task", "sr4", "--prior", "{prior}", "--out", "{out}")),
    Case("restore", "Inf NPY", ("restore", "{inf_npy}", "--task", "sr4", "--prior", "{prior}", "--out", "{out}")),
    Case("restore", "NPY outside [0, 1]", ("restore", "{range_npy}", "--task", "sr4", "--prior", "{prior}",
                                           "--out", "{out}")),
    Case("restore", "NPY with 7 channels", ("restore", "{channels_npy}", "--task", "sr4", "--prior", "{prior}",
                                            "--out", "{out}")),
    Case("restore", "20000x20000 PNG header", ("restore", "{bomb_png}", "--task", "sr4", "--prior", "{prior}",
                                               "--out", "{out}")),
    Case("restore", "8000x8000 photo (memory)", ("restore", "{huge_png}", "--task", "sr4", "--prior",
                                                 "{bundled}", "--steps", "1", "--out", "{out}")),
    Case("restore", "two inputs with one name", ("restore", "{image}", "{image_twin}", "--task", "sr4", "--prior",
                                                 "{prior}", "--out", "{out}")),
    Case("restore", "a second input corrupt", ("restore", "{image}", "{corrupt_png}", "--task", "sr4", "--prior",
                                               "{prior}", "--out", "{out}")),
    Case("restore", "outputs exist", R + ("--task", "sr4"), existing_out=True),
    Case("restore", "--out is a file", ("restore", "{image}", "--task", "sr4", "--prior", "{prior}", "--out",
                                        "{notes_txt}")),
    Case("restore", "output name is a folder", R + ("--task", "sr4", "--out", "{blocked_out}")),
    # priors (through restore)
    Case("prior", "bundled:nothing", R + ("--task", "sr4", "--prior", "bundled:nothing")),
    Case("prior", "missing folder", R + ("--task", "sr4", "--prior", "{case}/nothing/here")),
    Case("prior", "folder without a UNet", R + ("--task", "sr4", "--prior", "{folder}")),
    Case("prior", "truncated model.safetensors", R + ("--task", "sr4", "--prior", "{prior_truncated}")),
    Case("prior", "corrupt projdiff.json", R + ("--task", "sr4", "--prior", "{prior_bad_wrapper}")),
    Case("prior", "config.json not JSON", R + ("--task", "sr4", "--prior", "{prior_bad_config}")),
    Case("prior", "unknown _class_name", R + ("--task", "sr4", "--prior", "{prior_bad_class}")),
    Case("prior", "_class_name of another diffusers attribute", R + ("--task", "sr4", "--prior",
                                                                     "{prior_evil_class}")),
    Case("prior", "hub id without network", R + ("--task", "sr4", "--prior", "someone/nothing")),
    Case("prior", "audio prior for images", R + ("--task", "sr4", "--prior", "{audio_prior}")),
    # demo
    Case("demo", "--steps 0", ("demo", "--prior", "{prior}", "--steps", "0", "--out", "{out}")),
    Case("demo", "--prior broken", ("demo", "--prior", "{prior_truncated}", "--steps", "1", "--out", "{out}")),
    Case("demo", "demo_grid.png exists", ("demo", "--prior", "{prior}", "--steps", "1", "--out", "{out}"),
             existing_out=True),
    Case("demo", "--out is a file", ("demo", "--prior", "{prior}", "--steps", "1", "--out", "{notes_txt}")),
    Case("demo", "--device cuda:7", ("demo", "--prior", "{prior}", "--steps", "1", "--out", "{out}", "--device",
                                     "cuda:7")),
    Case("demo", "unknown option", ("demo", "--prior", "{prior}", "--stepz", "1", "--out", "{out}")),
    # run: the job file
    Case("run", "no such job file", ("run", "{case}/missing.toml")),
    Case("run", "job file is a folder", ("run", "{folder}")),
    Case("run", "not TOML", ("run", "{case}/job.toml"), (("job.toml", "inputs = [\n"),)),
    Case("run", "binary garbage", ("run", "{case}/job.toml"), (("job.toml", "\x00\x01\x02 garbage"),)),
    Case("run", "unknown key", ("run", "{case}/job.toml"), _job(SR4, extra="colour = 1\n")),
    Case("run", "seed = 1.9", ("run", "{case}/job.toml"), _job(SR4, extra="seed = 1.9\n")),
    Case("run", "steps = 3.7 (task)", ("run", "{case}/job.toml"), _job('[[tasks]]\ntask = "sr4"\nsteps = 3.7\n')),
    Case("run", 'pad = "no"', ("run", "{case}/job.toml"), _job(SR4, extra='pad = "no"\n')),
    Case("run", "samples = 0", ("run", "{case}/job.toml"), _job(SR4, extra="samples = 0\n")),
    Case("run", "threads = 0", ("run", "{case}/job.toml"), _job(SR4, extra="threads = 0\n")),
    Case("run", "fraction = []", ("run", "{case}/job.toml"), _job('[[tasks]]\ntask = "inpaint"\nfraction = []\n')),
    Case("run", 'box = "0,0,4"', ("run", "{case}/job.toml"), _job('[[tasks]]\ntask = "inpaint"\nbox = "0,0,4"\n')),
    Case("run", 'box = [0, 0, 4, "a"]', ("run", "{case}/job.toml"),
         _job('[[tasks]]\ntask = "inpaint"\nbox = [0, 0, 4, "a"]\n')),
    Case("run", "sigma_y = -1", ("run", "{case}/job.toml"), _job('[[tasks]]\ntask = "sr4"\nsigma_y = -1\n')),
    Case("run", "sigma_y = nan", ("run", "{case}/job.toml"), _job('[[tasks]]\ntask = "sr4"\nsigma_y = nan\n')),
    Case("run", 'sigma_y = "x"', ("run", "{case}/job.toml"), _job('[[tasks]]\ntask = "sr4"\nsigma_y = "x"\n')),
    Case("run", "blur_sigma = inf", ("run", "{case}/job.toml"), _job('[[tasks]]\ntask = "deblur"\nblur_sigma = inf\n')),
    Case("run", "box and mask", ("run", "{case}/job.toml"),
         _job('[[tasks]]\ntask = "inpaint"\nbox = [0, 0, 4, 4]\nmask = "{mask}"\n')),
    Case("run", "no tasks", ("run", "{case}/job.toml"), _job("")),
    Case("run", "tasks = []", ("run", "{case}/job.toml"), _job("tasks = []\n")),
    Case("run", "unknown task", ("run", "{case}/job.toml"), _job('[[tasks]]\ntask = "sr5"\n')),
    Case("run", "task missing", ("run", "{case}/job.toml"), _job('[[tasks]]\nsigma_y = 0.1\n')),
    Case("run", "setting of another task", ("run", "{case}/job.toml"), _job('[[tasks]]\ntask = "sr4"\nfraction = 0.5\n')),
    Case("run", "inputs = []", ("run", "{case}/job.toml"), _job(SR4, inputs="[]")),
    Case("run", "inputs match nothing", ("run", "{case}/job.toml"), _job(SR4, inputs='["none*.png"]')),
    Case("run", "inputs with one name twice", ("run", "{case}/job.toml"), _job(SR4, inputs='["{image}", "{image_twin}"]')),
    Case("run", 'out = "../../x"', ("run", "{case}/job.toml"),
         (("job.toml", 'prior = "{prior}"\nsteps = 1\nout = "../../escaped"\ninputs = ["{image}"]\n' + SR4),)),
    Case("run", "out absolute elsewhere", ("run", "{case}/job.toml"),
         (("job.toml", 'prior = "{prior}"\nsteps = 1\nout = "{elsewhere}"\ninputs = ["{image}"]\n' + SR4),)),
    Case("run", "mask relative to the job, missing", ("run", "{case}/job.toml"),
         _job('[[tasks]]\ntask = "inpaint"\nmask = "holes.png"\n')),
    Case("run", 'device = "tpu"', ("run", "{case}/job.toml"), _job(SR4, extra='device = "tpu"\n')),
    Case("run", 'dtype = "float64"', ("run", "{case}/job.toml"), _job(SR4, extra='dtype = "float64"\n')),
    Case("run", "prior broken", ("run", "{case}/job.toml"),
         (("job.toml", 'prior = "{prior_truncated}"\nsteps = 1\nout = "out"\ninputs = ["{image}"]\n' + SR4),)),
    Case("run", "--device cuda without CUDA", ("run", "{case}/job.toml", "--device", "cuda"), _job(SR4)),
    # separate
    Case("separate", "MIX missing", ("separate", "{case}/missing.wav", "--prior", "{audio_prior}", "--out", "{out}")),
    Case("separate", "junk with a .wav name", S[:1] + ("{junk_wav}",) + S[2:]),
    Case("separate", "empty WAV", S[:1] + ("{empty_wav}",) + S[2:]),
    Case("separate", "NaN samples", S[:1] + ("{nan_wav}",) + S[2:]),
    Case("separate", "1 Hz WAV", S[:1] + ("{onehz_wav}",) + S[2:]),
    Case("separate", "silent WAV", S[:1] + ("{silent_wav}",) + S[2:]),
    Case("separate", "MIX is a folder", S[:1] + ("{folder}",) + S[2:]),
    Case("separate", "image prior", S + ("--prior", "{prior}")),
    Case("separate", "audio prior without sample_rate", S + ("--prior", "{audio_prior_no_rate}")),
    Case("separate", "--references missing", S + ("--references", "{case}/refs")),
    Case("separate", "--references of another length", S + ("--references", "{short_refs}")),
    Case("separate", "--sigma-y nan", S + ("--sigma-y", "nan")),
    Case("separate", "--steps 0", S + ("--steps", "0")),
    Case("separate", "outputs exist", S, existing_out=True),
    Case("separate", "--device cuda without CUDA", S + ("--device", "cuda")),
    # generate
    Case("generate", "--given without =", G + ("--given", "{mix}")),
    Case("generate", "unknown stem", G + ("--given", "violin={mix}")),
    Case("generate", "a stem twice", G + ("--given", "soprano={mix}", "--given", "soprano={mix}")),
    Case("generate", "every stem given", G + ("--given", "soprano={mix}", "--given", "alto={mix}", "--given",
                                              "tenor={mix}", "--given", "bass={mix}")),
    Case("generate", "file missing", G + ("--given", "soprano={case}/missing.wav")),
    Case("generate", "junk file", G + ("--given", "soprano={junk_wav}")),
    Case("generate", "different rates", G + ("--given", "soprano={mix}", "--given", "alto={mix_16k}")),
    Case("generate", "different lengths", G + ("--given", "soprano={mix}", "--given", "alto={mix_short}")),
    Case("generate", "image prior", G + ("--given", "soprano={mix}", "--prior", "{prior}")),
    # fit-nmf
    Case("fit-nmf", "--stems missing", NMF + ("--stems", "{case}/none")),
    Case("fit-nmf", "--stems without track folders", NMF + ("--stems", "{folder}")),
    Case("fit-nmf", "a stem missing", NMF + ("--stems", "{stems_missing}")),
    Case("fit-nmf", "a stereo stem", NMF + ("--stems", "{stems_stereo}")),
    Case("fit-nmf", "stems at different rates", NMF + ("--stems", "{stems_rates}")),
    Case("fit-nmf", "stems of different lengths", NMF + ("--stems", "{stems_lengths}")),
    Case("fit-nmf", "junk with a .wav name", NMF + ("--stems", "{stems_junk}")),
    Case("fit-nmf", "NaN samples", NMF + ("--stems", "{stems_nan}")),
    Case("fit-nmf", "--names one stem", NMF + ("--names", "soprano")),
    Case("fit-nmf", "--names twice the same", NMF + ("--names", "soprano,soprano")),
    Case("fit-nmf", "--components 0", NMF + ("--components", "0")),
    Case("fit-nmf", "--iterations nan", NMF + ("--iterations", "nan")),
    Case("fit-nmf", "--out exists", ("fit-nmf", "--stems", "{stems}", "--out", "{notes_txt}", "--quiet")),
    Case("fit-nmf", "--out is a folder", ("fit-nmf", "--stems", "{stems}", "--out", "{folder}", "--quiet")),
    Case("fit-nmf", "--stems missing (option)", ("fit-nmf", "--out", "{out}/nmf.safetensors")),
    # separate --init nmf
    Case("separate --init nmf", "--init nmf without --nmf", S + ("--init", "nmf")),
    Case("separate --init nmf", "--nmf without --init nmf", S + ("--nmf", "{nmf}")),
    Case("separate --init nmf", "--nmf missing", S + ("--init", "nmf", "--nmf", "{case}/none.safetensors")),
    Case("separate --init nmf", "--nmf junk", S + ("--init", "nmf", "--nmf", "{notes_txt}")),
    Case("separate --init nmf", "--nmf a prior's weights", S + ("--init", "nmf", "--nmf", "{prior_weights}")),
    Case("separate --init nmf", "--nmf of other stems", S + ("--init", "nmf", "--nmf", "{nmf_other}")),
    Case("separate --init nmf", "--init-sigma 0", S + ("--init", "nmf", "--nmf", "{nmf}", "--init-sigma", "0")),
    Case("separate --init nmf", "--init-sigma nan", S + ("--init", "nmf", "--nmf", "{nmf}", "--init-sigma", "nan")),
    Case("separate --init nmf", "--init bogus", S + ("--init", "bogus")),
    # tumor
    Case("tumor", "neither --ct nor --demo", T),
    Case("tumor", "--ct and --demo", T + ("--ct", "{ct}", "--demo")),
    Case("tumor", "--ct missing", T + ("--ct", "{case}/missing.nii.gz")),
    Case("tumor", "--ct junk", T + ("--ct", "{notes_txt}")),
    Case("tumor", "--ct corrupt NIfTI", T + ("--ct", "{corrupt_nii}")),
    Case("tumor", "NIfTI CT without --organ-mask", T + ("--ct", "{ct}")),
    Case("tumor", "--organ-mask of another grid", T + ("--ct", "{ct}", "--organ-mask", "{mask_other_grid}")),
    Case("tumor", "--organ-mask without --ct", T + ("--demo", "--organ-mask", "{ct}")),
    Case("tumor", "DICOM SEG", T + ("--ct", "{dicom_seg}")),
    Case("tumor", "enhanced multi-frame CT", T + ("--ct", "{dicom_enhanced}")),
    Case("tumor", "--organ bogus", T + ("--ct", "{ct}", "--organ-mask", "{organ_mask}", "--organ", "bogus")),
    Case("tumor", "--size bogus", T + ("--demo", "--size", "huge")),
    Case("tumor", "--count 0", T + ("--demo", "--count", "0")),
    Case("tumor", "--backend bogus", ("tumor", "--demo", "--backend", "bogus", "--out", "{out}")),
    Case("tumor", "--prior with handcrafted", T + ("--demo", "--prior", "{prior}")),
    Case("tumor", "--threshold without --judge", T + ("--demo", "--threshold", "0.5")),
    Case("tumor", "--judge missing", T + ("--demo", "--judge", "{case}/nojudge")),
    Case("tumor", "--threshold nan", T + ("--demo", "--judge", "bundled:tumor-judge", "--threshold", "nan")),
    Case("tumor", "--seed -1", T + ("--demo", "--seed", "-1")),
    Case("tumor", "--device cuda without CUDA", ("tumor", "--demo", "--out", "{out}", "--device", "cuda")),
    # tumor actions
    Case("tumor train-judge", "--data missing", ("tumor", "train-judge", "--data", "{case}/nodata", "--out", "{out}",
                                                 "--steps", "1")),
    Case("tumor train-judge", "--steps 0", ("tumor", "train-judge", "--data", "{case}/nodata", "--out", "{out}",
                                            "--steps", "0")),
    Case("tumor train-judge", "--lr nan", ("tumor", "train-judge", "--out", "{out}", "--lr", "nan")),
    Case("tumor train-judge", "--device cuda without CUDA", ("tumor", "train-judge", "--data", "{case}/nodata",
                                                             "--out", "{out}", "--device", "cuda")),
    Case("tumor train-discriminator", "--data missing", ("tumor", "train-discriminator", "--data", "{case}/nodata",
                                                         "--out", "{out}", "--steps", "1")),
    Case("tumor train-discriminator", "--lesions 0", ("tumor", "train-discriminator", "--out", "{out}",
                                                      "--lesions", "0")),
    Case("tumor train-discriminator", "--batch-size -1", ("tumor", "train-discriminator", "--out", "{out}",
                                                          "--batch-size", "-1")),
    Case("tumor finetune-adversarial", "--data missing", ("tumor", "finetune-adversarial", "--data",
                                                          "{case}/nodata", "--out", "{out}", "--steps", "1")),
    Case("tumor finetune-adversarial", "--judge-weight inf", ("tumor", "finetune-adversarial", "--out", "{out}",
                                                              "--judge-weight", "inf")),
    Case("tumor finetune-adversarial", "--out missing", ("tumor", "finetune-adversarial",)),
    # train
    Case("train", "--preset bogus", ("train", "--preset", "bogus", "--out", "{out}", "--steps", "1")),
    Case("train", "--model bogus", TRAIN + ("--model", "bogus")),
    Case("train", "--data bogus", TRAIN + ("--data", "bogus")),
    Case("train", "--data folder:missing", TRAIN + ("--data", "folder:{case}/none")),
    Case("train", "--data folder with one image", TRAIN + ("--data", "folder:{one_image_folder}")),
    Case("train", "--data folder with a truncated PNG", TRAIN + ("--data", "folder:{truncated_folder}")),
    Case("train", "--image-size 7", TRAIN + ("--image-size", "7")),
    Case("train", "--image-size 100000", TRAIN + ("--image-size", "100000")),
    Case("train", "--channels 2", TRAIN + ("--channels", "2")),
    Case("train", "--batch-size 100000000", TRAIN + ("--batch-size", "100000000")),
    Case("train", "--lr inf", TRAIN + ("--lr", "inf")),
    Case("train", "--lr nan", TRAIN + ("--lr", "nan")),
    Case("train", "--lr 0", TRAIN + ("--lr", "0")),
    Case("train", "--steps 0", TRAIN + ("--steps", "0")),
    Case("train", "checkpoints all unreadable", TRAIN + ("--out", "{broken_run}")),
    Case("train", "--device cuda without CUDA", TRAIN + ("--device", "cuda")),
    # train from a chorale archive (the GPU training path)
    Case("train chorales:ARCHIVE", "archive missing", ARCH + ("--data", "chorales:{case}/none")),
    Case("train chorales:ARCHIVE", "archive.json not JSON", ARCH + ("--data", "chorales:{archive_bad_index}")),
    Case("train chorales:ARCHIVE", "a part damaged", ARCH + ("--data", "chorales:{archive_damaged}")),
    Case("train chorales:ARCHIVE", "a part missing", ARCH + ("--data", "chorales:{archive_missing_part}")),
    Case("train chorales:ARCHIVE", "--channels 2", ARCH + ("--channels", "2")),
    # data
    Case("data chorales", "--splits bogus", ("data", "chorales", "--out", "{out}", "--splits", "bogus")),
    Case("data chorales", "--splits empty", ("data", "chorales", "--out", "{out}", "--splits", "")),
    Case("data chorales", "--rate 1", ("data", "chorales", "--out", "{out}", "--rate", "1")),
    Case("data chorales", "--count 0", ("data", "chorales", "--out", "{out}", "--count", "0")),
    Case("data chorales", "--soundfont missing", ("data", "chorales", "--out", "{out}", "--soundfont",
                                                  "{case}/none.sf2")),
    Case("data chorales", "corrupt manifest", ("data", "chorales", "--out", "{bad_manifest}", "--count", "1")),
    Case("data chorales", "--archive is a file", ("data", "chorales", "--out", "{out}", "--count", "1", "--archive",
                                                   "{notes_txt}")),
    Case("data chorales", "--part-mb 0", ("data", "chorales", "--out", "{out}", "--archive", "{out}/a",
                                          "--part-mb", "0")),
    Case("data photos", "--short-side 0", ("data", "photos", "--out", "{out}", "--short-side", "0")),
    Case("data photos", "--out is a file", ("data", "photos", "--out", "{notes_txt}")),
    Case("data lesions", "--train 0", ("data", "lesions", "--out", "{out}", "--train", "0")),
    Case("data lesions", "--validation -1", ("data", "lesions", "--out", "{out}", "--validation", "-1")),
    Case("data", "unknown dataset", ("data", "nothing", "--out", "{out}")),
    Case("projdiff", "unknown command", ("restor", "{image}")),
)


class Workspace:
    """The files the cases use, built once under ``root`` (see ``paths``)."""

    def __init__(self, root: Path):
        self.root = root
        self.inputs = root / "inputs"
        self.paths: dict[str, str] = {}
        self._build()

    def _add(self, key: str, path: Path) -> Path:
        self.paths[key] = str(path)
        return path

    def _build(self) -> None:
        import numpy as np
        import soundfile
        import torch
        from PIL import Image

        d = self.inputs
        d.mkdir(parents=True)
        rng = np.random.default_rng(0)
        for key, channels in (("prior", 1), ("rgb_prior", 3)):
            tiny_prior(channels).save_pretrained(self._add(key, d / f"priors/{key}"))
        self._add("bundled", Path("bundled:fashion-mnist-32"))
        audio = tiny_audio_prior(self._add("audio_prior", d / "priors/audio"))
        broken = {"prior_truncated": "unet/diffusion_pytorch_model.safetensors", "prior_bad_wrapper": "projdiff.json",
                  "prior_bad_config": "unet/config.json"}
        for key, file in broken.items():
            shutil.copytree(self.paths["prior"], self._add(key, d / f"priors/{key}"))
            target = Path(self.paths[key]) / file
            target.write_bytes(target.read_bytes()[: len(target.read_bytes()) // 2])
        for key, name in (("prior_bad_class", "UNet9000Model"), ("prior_evil_class", "hf_hub_download")):
            shutil.copytree(self.paths["prior"], self._add(key, d / f"priors/{key}"))
            config = Path(self.paths[key]) / "unet/config.json"
            config.write_text(json.dumps({**json.loads(config.read_text()), "_class_name": name}))
        shutil.copytree(audio, self._add("audio_prior_no_rate", d / "priors/audio_no_rate"))
        wrapper = Path(self.paths["audio_prior_no_rate"]) / "projdiff.json"
        meta = json.loads(wrapper.read_text())
        del meta["metadata"]["sample_rate"]
        wrapper.write_text(json.dumps(meta))

        pixels = (rng.random((32, 32)) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(self._add("image", d / "image.png"))
        (d / "twin").mkdir()
        Image.fromarray(pixels).save(self._add("image_twin", d / "twin/image.png"))
        mask = np.zeros((32, 32), np.uint8)
        mask[:, :16] = 255
        Image.fromarray(mask).save(self._add("mask", d / "mask.png"))
        Image.fromarray(mask[:16, :16]).save(self._add("mask_small", d / "mask_small.png"))
        png = (d / "image.png").read_bytes()
        self._add("corrupt_png", d / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
        self._add("truncated_png", d / "truncated.png").write_bytes(png[: len(png) // 2])
        self._add("empty_png", d / "empty.png").write_bytes(b"")
        self._add("text_png", d / "text.png").write_text("not an image")
        self._add("notes_txt", d / "notes.txt").write_text("notes")
        np.save(self._add("nan_npy", d / "nan.npy"), np.full((32, 32), np.nan, np.float32))
        np.save(self._add("inf_npy", d / "inf.npy"), np.full((32, 32), np.inf, np.float32))
        np.save(self._add("range_npy", d / "range.npy"), np.full((32, 32), 2.0, np.float32))
        np.save(self._add("channels_npy", d / "channels.npy"), np.zeros((32, 32, 7), np.float32))
        np.save(self._add("kernel_negative", d / "kernel_negative.npy"), -np.ones((3, 3), np.float32))
        np.save(self._add("kernel_big", d / "kernel_big.npy"), np.ones((64, 64), np.float32))
        Image.new("1", (20000, 20000)).save(self._add("bomb_png", d / "bomb.png"))
        Image.new("L", (8000, 8000), 128).save(self._add("huge_png", d / "huge.png"))
        self._add("folder", d / "a_folder").mkdir()
        (d / "blocked").mkdir()
        (d / "blocked" / "image_restored.png").mkdir()
        self._add("blocked_out", d / "blocked")
        self._add("elsewhere", d / "elsewhere")
        for key, count in (("train_images", 3), ("one_image_folder", 1), ("truncated_folder", 3)):
            folder = self._add(key, d / key)
            folder.mkdir()
            for i in range(count):
                Image.fromarray((rng.random((12, 12)) * 255).astype(np.uint8)).save(folder / f"im{i}.png")
        (d / "truncated_folder" / "im2.png").write_bytes((d / "truncated_folder" / "im2.png").read_bytes()[:40])
        self._build_training_run(d / "broken_run")

        t = np.arange(4000) / 8000
        soundfile.write(self._add("mix", d / "mix.wav"), (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 8000)
        soundfile.write(self._add("mix_16k", d / "mix16k.wav"), np.zeros(8000, np.float32) + 0.01, 16000)
        soundfile.write(self._add("mix_short", d / "mix_short.wav"), (0.1 * np.sin(t[:1000])).astype(np.float32), 8000)
        self._add("junk_wav", d / "junk.wav").write_bytes(b"RIFF1234WAVEjunk" * 8)
        self._add("empty_wav", d / "empty.wav").write_bytes(b"")
        soundfile.write(self._add("nan_wav", d / "nan.wav"), np.full(800, np.nan, np.float32), 8000, subtype="FLOAT")
        soundfile.write(self._add("onehz_wav", d / "onehz.wav"), (0.1 * rng.random(100)).astype(np.float32), 1)
        soundfile.write(self._add("silent_wav", d / "silent.wav"), np.zeros(800, np.float32), 8000)
        refs = self._add("short_refs", d / "refs")
        refs.mkdir()
        for stem in ("soprano", "alto", "tenor", "bass"):
            soundfile.write(refs / f"{stem}.wav", np.zeros(100, np.float32) + 0.01, 8000)

        self._build_stems(d, rng)
        self._build_ct(d)
        manifest = self._add("bad_manifest", d / "bad_manifest")
        manifest.mkdir()
        (manifest / "manifest.json").write_text("{ not json")
        del torch

    def _build_stems(self, d: Path, rng) -> None:
        """Isolated stems for fit-nmf (good ones and broken variants), NMF dictionaries, chorale archives."""
        import numpy as np
        import soundfile

        from projdiff.apps.audio.archive import write_archive
        from projdiff.apps.audio.nmf import NMFModel
        from projdiff.apps.audio.stems import load_tracks

        stems = ("soprano", "alto", "tenor", "bass")
        root = self._add("stems", d / "stems")
        tracks, position = {}, 0
        for split, count in (("train", 2), ("validation", 1)):
            for _ in range(count):
                position += 1
                name = f"bwv{position:03d}"
                for stem in stems:
                    (root / split / name).mkdir(parents=True, exist_ok=True)
                    audio = (0.05 * rng.standard_normal(600)).astype(np.float32)
                    soundfile.write(root / split / name / f"{stem}.wav", audio, 8000, subtype="FLOAT")
                tracks[name] = {"split": split, "position": position, "corpus": name, "seconds": 600 / 8000}
        settings = {"sample_rate": 8000, "soundfont": "none.sf2", "render": "noise"}
        (root / "manifest.json").write_text(json.dumps({"settings": settings, "tracks": tracks}))
        self.paths["stems"] = str(root / "train")  # fit-nmf reads DIR/<track>/<stem>.wav

        def variant(key: str, change) -> None:
            folder = self._add(key, d / key)
            shutil.copytree(root / "train", folder)
            change(folder / "bwv001")

        variant("stems_missing", lambda t: (t / "bass.wav").unlink())
        variant("stems_stereo", lambda t: soundfile.write(t / "alto.wav", np.zeros((600, 2), np.float32), 8000))
        variant("stems_rates", lambda t: soundfile.write(t / "alto.wav", np.zeros(600, np.float32), 16000))
        variant("stems_lengths", lambda t: soundfile.write(t / "alto.wav", np.zeros(300, np.float32), 8000))
        variant("stems_junk", lambda t: (t / "tenor.wav").write_bytes(b"RIFF1234WAVEjunk" * 8))
        variant("stems_nan", lambda t: soundfile.write(t / "bass.wav", np.full(600, np.nan, np.float32), 8000,
                                                       subtype="FLOAT"))

        train, rate = load_tracks(root / "train", stems)
        NMFModel.fit(train, rate, stems, components=2, iterations=2).save(self._add("nmf", d / "nmf.safetensors"))
        NMFModel.fit([t[:2] for t in train], rate, ("piano", "drums"), components=2, iterations=2).save(
            self._add("nmf_other", d / "nmf_other.safetensors"))
        self._add("prior_weights", Path(self.paths["prior"]) / "unet/diffusion_pytorch_model.safetensors")

        archive = self._add("archive", d / "archive")
        index = write_archive(root, archive, stems, max_bytes=60_000)
        for key, change in (("archive_bad_index", lambda a: (a / "archive.json").write_text("{ not json")),
                            ("archive_damaged", lambda a: (a / index["parts"][0]["file"]).write_bytes(
                                (a / index["parts"][0]["file"]).read_bytes()[:-700])),
                            ("archive_missing_part", lambda a: (a / index["parts"][-1]["file"]).unlink())):
            shutil.copytree(archive, self._add(key, d / key))
            change(Path(self.paths[key]))

    def _build_training_run(self, folder: Path) -> None:
        """A training output folder whose only checkpoint is unreadable."""
        checkpoint = self._add("broken_run", folder) / "checkpoints" / "step-0000002"
        checkpoint.mkdir(parents=True)
        for name in ("model.safetensors", "ema.safetensors", "optimizer.safetensors"):
            (checkpoint / name).write_bytes(b"\0" * 8)
        (checkpoint / "trainer_state.json").write_text("{}")

    def _build_ct(self, d: Path) -> None:
        """A small NIfTI CT without labels, an organ mask, a mask on another grid, DICOM SEG and enhanced CT."""
        import nibabel as nib
        import numpy as np
        import pydicom
        from pydicom.data import get_testdata_file

        rng = np.random.default_rng(1)
        ct = (rng.random((32, 32, 16)) * 300 - 100).astype(np.int16)
        ct[:4] = -1000  # air, as every CT has
        affine = np.diag([1.5, 1.5, 2.5, 1.0])
        nib.save(nib.Nifti1Image(ct, affine), self._add("ct", d / "ct.nii.gz"))
        organ = np.zeros(ct.shape, np.uint8)
        organ[8:24, 8:24, 4:12] = 1
        nib.save(nib.Nifti1Image(organ, affine), self._add("organ_mask", d / "organ.nii.gz"))
        nib.save(nib.Nifti1Image(organ[:30], affine), self._add("mask_other_grid", d / "organ_other.nii.gz"))
        self._add("corrupt_nii", d / "corrupt.nii.gz").write_bytes(b"\x1f\x8b garbage")
        source = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        seg = source.copy()
        seg.Modality, seg.SOPClassUID = "SEG", "1.2.840.10008.5.1.4.1.1.66.4"
        seg.save_as(self._add("dicom_seg", d / "seg.dcm"))
        enhanced = source.copy()
        enhanced.SOPClassUID, enhanced.NumberOfFrames = "1.2.840.10008.5.1.4.1.1.2.1", 2
        for tag in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing"):
            delattr(enhanced, tag)
        enhanced.save_as(self._add("dicom_enhanced", d / "enhanced.dcm"))


def tiny_prior(channels: int):
    """A randomly initialised 2-level UNet prior (no download)."""
    import torch
    from diffusers import DDPMScheduler, UNet2DModel

    from projdiff.priors import DiffusersPrior

    with torch.random.fork_rng():
        torch.manual_seed(0)
        unet = UNet2DModel(sample_size=32, in_channels=channels, out_channels=channels, block_out_channels=(8, 16),
                           norm_num_groups=4, layers_per_block=1, down_block_types=("DownBlock2D", "DownBlock2D"),
                           up_block_types=("UpBlock2D", "UpBlock2D"))
    return DiffusersPrior(unet, DDPMScheduler())


def tiny_audio_prior(folder: Path) -> Path:
    """A randomly initialised 4-stem UNet1D prior (8 kHz, 256-sample segments) saved in ``folder``."""
    from diffusers import DDPMScheduler

    from projdiff.apps.audio.recipes import AUDIO_TINY
    from projdiff.apps.audio.stem_prior import StemPriorCard
    from projdiff.priors import DiffusersPrior

    unet = AUDIO_TINY.build(channels=4, condition_channels=0, sample_size=256, seed=0)
    card = StemPriorCard(sample_rate=8000, stems=("soprano", "alto", "tenor", "bass"), segment=256, waveform_scale=0.25)
    DiffusersPrior(unet, DDPMScheduler(), metadata=card.to_dict()).save_pretrained(folder)
    return folder


def snapshot(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` (and every folder's existence), by relative path."""
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        if path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        elif path.is_dir():
            out[rel] = "folder"
    return out


def prepare(case: Case, workspace: Workspace, folder: Path) -> list[str]:
    """Write the case's files into ``folder`` and return its argv (placeholders filled in)."""
    folder.mkdir(parents=True)
    values = {**workspace.paths, "case": str(folder), "out": str(folder / "out")}
    for name, text in case.files:
        (folder / name).write_text(text.format(**values))
    if case.existing_out:
        (folder / "out").mkdir()
        for name in ("image_restored.png", "demo_grid.png", "mix_soprano.wav"):
            (folder / "out" / name).write_bytes(b"an earlier result")
    return [a.format(**values) for a in case.args]


def verdict(case: Case, code: int, stderr: str, folder: Path, before_out: dict, inputs_changed: bool) -> str:
    """"ok", or what broke the contract."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    if "Traceback" in stderr:
        return "traceback"
    if code != 2:
        return f"exit code {code}"
    if len(lines) != 1 or ": error: " not in lines[0] or not lines[0].startswith("projdiff"):
        return f"{len(lines)} lines on stderr"
    out = folder / "out"
    after_out = snapshot(out) if out.exists() else {}
    if after_out != before_out:
        return "wrote into the output folder"
    escaped = folder.parent.parent / "escaped"
    if escaped.exists():
        return "wrote outside the job's folder"
    if inputs_changed:
        return "changed an input"
    return "ok"


def run_case(case: Case, workspace: Workspace, folder: Path, runner) -> tuple[str, str]:
    """Run one case with ``runner(argv) -> (exit code, stderr)``; returns (verdict, stderr)."""
    argv = prepare(case, workspace, folder)
    before_inputs = snapshot(workspace.inputs)
    before_out = snapshot(folder / "out") if (folder / "out").exists() else {}
    code, stderr = runner(argv)
    changed = snapshot(workspace.inputs) != before_inputs
    return verdict(case, code, stderr, folder, before_out, changed), stderr


def subprocess_runner(argv: list[str]) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-m", "projdiff", *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"}, errors="backslashreplace")
    return done.returncode, done.stderr


# ---------------------------------------------------------------------------------------------- kills


def _outputs(out: Path) -> dict[str, bytes]:
    """Output files by relative path (bookkeeping and manifest left out), metrics without timings."""
    files = {}
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out)
        if not path.is_file() or ".projdiff-job" in rel.parts or path.name == "manifest.json":
            continue
        data = path.read_bytes()
        if path.name.endswith("_metrics.json"):
            data = json.dumps({k: v for k, v in json.loads(data).items() if k != "seconds"}, sort_keys=True).encode()
        files[str(rel)] = data
    return files


def _temporaries(out: Path) -> list[str]:
    return [str(p) for p in out.rglob("*") if p.name.endswith(".tmp") or ".tmp-" in p.name]


def kill_experiment(workspace: Path, command: str, kills: int, seed: int) -> dict:
    """Kill ``restore`` or ``run`` ``kills`` times (SIGKILL and SIGTERM alternating) and rerun each time."""
    import numpy as np
    from PIL import Image

    folder = workspace / f"kills-{command}"
    folder.mkdir()
    rng = np.random.default_rng(seed)
    names = []
    for i in range(3):
        Image.fromarray((rng.random((32, 32)) * 255).astype(np.uint8)).save(folder / f"im{i}.png")
        names.append(f"im{i}.png")
    prior = workspace / "inputs" / "priors" / "prior"

    def argv(out: Path) -> list[str]:
        if command == "restore":
            return ["restore", *(str(folder / n) for n in names), "--task", "sr4", "--sigma-y", "0.05", "--prior",
                    str(prior), "--steps", "40", "--out", str(out), "--quiet"]
        job = out.parent / f"{out.name}.toml"
        job.write_text(f'prior = "{prior}"\nsteps = 40\nout = "{out.name}"\ninputs = {json.dumps([str(folder / n) for n in names])}\n'
                       '[[tasks]]\ntask = "sr4"\nsigma_y = [0.0, 0.05]\n')
        return ["run", str(job), "--quiet"]

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    started = time.perf_counter()
    reference = folder / "reference"
    assert subprocess.run([sys.executable, "-m", "projdiff", *argv(reference)], cwd=ROOT, env=env,
                          capture_output=True).returncode == 0
    duration = time.perf_counter() - started
    expected = _outputs(reference)
    draw = random.Random(seed)
    results = []
    for k in range(kills):
        out = folder / f"killed{k}"
        how = signal.SIGKILL if k % 2 == 0 else signal.SIGTERM
        delay = draw.uniform(0.0, duration)
        process = subprocess.Popen([sys.executable, "-m", "projdiff", *argv(out)], cwd=ROOT, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        process.send_signal(how)
        process.wait(120)
        rerun = subprocess.run([sys.executable, "-m", "projdiff", *argv(out)], cwd=ROOT, env=env, capture_output=True,
                               text=True)
        survived = rerun.returncode == 0 and _outputs(out) == expected and not _temporaries(out)
        results.append({"signal": signal.Signals(how).name, "delay": round(delay, 2), "survived": survived,
                        "rerun_exit": rerun.returncode})
    return {"command": command, "reference_seconds": round(duration, 1), "outputs": len(expected),
            "kills": results}


# ---------------------------------------------------------------------------------------------- report


def report(outcomes: list[tuple[Case, str, str]], kills: list[dict]) -> str:
    by_interface: dict[str, list] = {}
    for case, result, _ in outcomes:
        by_interface.setdefault(case.interface, []).append(result)
    rows = [[name, len(results), sum(r == "ok" for r in results)] for name, results in by_interface.items()]
    rows.append(["**all**", len(outcomes), sum(r == "ok" for _, r, _ in outcomes)])
    body = ("Bad inputs: exit code 2, one line on stderr, nothing written, inputs unchanged "
            "(see the script's docstring for the checks).\n\n")
    body += table(["interface", "inputs tried", "handled cleanly"], rows)
    failures = [(c, r, e) for c, r, e in outcomes if r != "ok"]
    if failures:
        body += "\nNot handled cleanly:\n\n" + table(
            ["interface", "input", "what broke", "stderr (last line)"],
            [[c.interface, c.name, r, (e.strip().splitlines() or [""])[-1][:120].replace("|", "/")]
             for c, r, e in failures])
    body += "\nEvery message, one per case:\n\n" + table(
        ["interface", "input", "stderr"],
        [[c.interface, c.name, (e.strip().splitlines() or [""])[-1][:160].replace("|", "/")] for c, _, e in outcomes])
    if kills:
        body += ("\nKills: the command is killed at a moment drawn uniformly over an uninterrupted run, then rerun; "
                 "survived = the rerun exits 0 with exactly the uninterrupted run's files, byte for byte, and no "
                 "temporary file.\n\n")
        body += table(["command", "uninterrupted run (s)", "output files", "kills (SIGKILL / SIGTERM)", "survived"],
                      [[k["command"], k["reference_seconds"], k["outputs"],
                        f"{sum(r['signal'] == 'SIGKILL' for r in k['kills'])} / "
                        f"{sum(r['signal'] == 'SIGTERM' for r in k['kills'])}",
                        sum(r["survived"] for r in k["kills"])] for k in kills])
    return body


def quick_cases(per_interface: int = 2) -> tuple[Case, ...]:
    """The first ``per_interface`` cases of every interface."""
    chosen: list[Case] = []
    for case in CASES:
        if sum(c.interface == case.interface for c in chosen) < per_interface:
            chosen.append(case)
    return tuple(chosen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="write the section into benchmarks/RESULTS.md")
    parser.add_argument("--quick", action="store_true", help="two cases per interface, no kills (smoke test)")
    parser.add_argument("--kills", type=int, default=10, help="kills per command (default 10)")
    parser.add_argument("--interfaces", help="comma-separated interfaces: their cases only, no kills, written to a "
                                             "section of their own (cases added after the full run)")
    args = parser.parse_args()
    cases = quick_cases() if args.quick else CASES
    wanted = [name.strip() for name in args.interfaces.split(",")] if args.interfaces else []
    if wanted:
        unknown = set(wanted) - {case.interface for case in CASES}
        if unknown:
            parser.error(f"--interfaces: no cases for {', '.join(sorted(unknown))}")
        cases = tuple(case for case in cases if case.interface in wanted)
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Workspace(Path(tmp))
        outcomes = []
        for number, case in enumerate(cases):
            result, stderr = run_case(case, workspace, Path(tmp) / "cases" / f"{number:03d}", subprocess_runner)
            outcomes.append((case, result, stderr))
            print(f"{case.interface:28s} {case.name:45s} {result}", flush=True)
        kills = [] if args.quick or wanted else [kill_experiment(Path(tmp), c, args.kills, seed) for seed, c in
                                                 enumerate(("restore", "run"))]
    if wanted:
        emit(args.write, "reliability-" + "-".join(w.replace(" ", "_") for w in wanted),
             f"Reliability: bad inputs to {', '.join(wanted)} (hardening issue, cases added later)",
             report(outcomes, kills))
    else:
        emit(args.write, "reliability", "Reliability: bad inputs and kills (hardening issue)", report(outcomes, kills))


if __name__ == "__main__":
    main()
