"""Train a diffusers UNet as a DDPM prior with accelerate (one CPU, several GPUs, several nodes).

The same function runs under ``python`` and under ``accelerate launch``. Everything random is a
pure function of ``(seed, step, process)``: which items form a batch, the diffusion times and the
noise. A run that is killed and resumed from its last checkpoint therefore continues exactly where
it stopped, and the data order does not depend on the number of processes.

Checkpoints hold no path and no device: an output folder can be copied to another machine (say
from a CPU to a GPU and back) and training resumes there. Each run between resumptions is a *leg*
(steps, seconds, hardware), kept in the checkpoint state, and the model card lists them all.

Output folder layout (a diffusers ``DDPMPipeline`` folder, loadable with
``DiffusersPrior.from_pretrained``)::

    OUT/model_index.json, OUT/unet/, OUT/scheduler/     EMA weights + noise schedule
    OUT/checkpoints/step-0000200/                       the training state, for resuming:
        model.safetensors, ema.safetensors, optimizer.safetensors (tensors) and
        trainer_state.json (step, settings, EMA counters, optimizer groups, LR schedule)
    OUT/train_log.jsonl                                 one JSON line per logged step
    OUT/README.md                                       model card

Checkpoints hold tensors (safetensors) and JSON only, never a pickle: resuming from a folder
someone else wrote cannot run code. A checkpoint that cannot be read (cut short, corrupt, or
written by an older projdiff through pickles) is skipped with a message and the previous one is
used. A loss that is not finite stops the run with an error before anything is saved.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from projdiff.priors.diffusers_prior import write_wrapper_config
from projdiff.priors.prediction import (condition_channels_of, denoising_loss, heldout_loss,
                                        log_sigma_uniform_weights)
from projdiff.utils.files import write_bytes

CHECKPOINT_PREFIX = "step-"


@dataclass
class TrainConfig:
    """Settings of one training run (all stored in the model card and the checkpoints).

    Parameters
    ----------
    steps : int
        Optimizer steps in total (a resumed run stops at the same total).
    batch_size : int, default 64
        Global batch size, split evenly over the processes.
    learning_rate : float, default 5e-4
        AdamW learning rate after a linear warm-up of ``warmup_steps``.
    ema_decay : float, default 0.999
    checkpoint_every : int, default 200
        Steps between checkpoints; the last ``keep_checkpoints`` are kept.
    validate_every : int, default 200
        Steps between held-out loss evaluations (EMA weights).
    seed : int, default 0
    sigma_range : (float, float), optional
        Train only at the noise levels a sampler will use: time steps are drawn so that ``log sigma``
        is uniform over this range (the model's data units; ``log_sigma_uniform_weights``), for the
        training loss and the held-out loss. By default time steps are uniform over the schedule.
    """

    steps: int
    batch_size: int = 64
    learning_rate: float = 5e-4
    warmup_steps: int = 200
    weight_decay: float = 0.0
    ema_decay: float = 0.999
    checkpoint_every: int = 200
    keep_checkpoints: int = 2
    validate_every: int = 200
    seed: int = 0
    sigma_range: tuple[float, float] | None = None


def _generator(*parts: int) -> torch.Generator:
    """A generator seeded by a tuple of ints (Python's int-tuple hash is the same in every process)."""
    return torch.Generator().manual_seed(hash(tuple(int(p) for p in parts)) & 0x7FFFFFFFFFFF)


def batch_indices(step: int, batch_size: int, dataset_size: int, seed: int) -> torch.Tensor:
    """Dataset indices of the global batch at ``step``: epochs are seeded permutations.

    Returns a LongTensor of shape (batch_size,); batches may straddle an epoch boundary.
    """
    first = step * batch_size
    out = []
    while len(out) < batch_size:
        epoch, offset = divmod(first + len(out), dataset_size)
        perm = torch.randperm(dataset_size, generator=_generator(seed, epoch))
        out.extend(perm[offset : offset + batch_size - len(out)].tolist())
    return torch.tensor(out, dtype=torch.long)


def _gather(dataset: Dataset, indices: torch.Tensor, epoch: int) -> torch.Tensor:
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(epoch)
    return torch.stack([dataset[int(i)] for i in indices])


class CheckpointError(ValueError):
    """A checkpoint folder that cannot be resumed from; the message names the folder and the reason."""


def _checkpoints(folder: Path) -> list[Path]:
    """Finished checkpoints, newest first."""
    return sorted((p for p in folder.glob(CHECKPOINT_PREFIX + "*") if p.is_dir()), reverse=True)


def _save_training_state(folder: Path, model, ema, optimizer, lr_schedule, state: dict) -> None:
    """Write the training state as safetensors and JSON (see the module docstring)."""
    from safetensors.torch import save_file

    names = [name for name, _ in model.named_parameters()]
    save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}, folder / "model.safetensors")
    save_file({n: p.detach().contiguous().cpu() for n, p in zip(names, ema.shadow_params)}, folder / "ema.safetensors")
    opt = optimizer.state_dict()
    save_file({f"{index}.{key}": value.detach().contiguous().cpu() for index, entry in opt["state"].items()
               for key, value in entry.items()}, folder / "optimizer.safetensors")
    ema_counters = {k: v for k, v in ema.state_dict().items() if k != "shadow_params"}
    saved = {**state, "ema": ema_counters, "optimizer_groups": opt["param_groups"],
             "lr_schedule": lr_schedule.state_dict()}
    (folder / "trainer_state.json").write_text(json.dumps(saved, indent=2) + "\n")


def _load_training_state(folder: Path, model, ema, optimizer, lr_schedule, device) -> dict:
    """Restore what ``_save_training_state`` wrote (tensors only: no pickle); CheckpointError if unreadable."""
    from safetensors.torch import load_file

    try:
        saved = json.loads((folder / "trainer_state.json").read_text())
        weights = load_file(folder / "model.safetensors")
        shadow = load_file(folder / "ema.safetensors")
        moments = load_file(folder / "optimizer.safetensors")
        model.load_state_dict(weights)
        names = [name for name, _ in model.named_parameters()]
        ema.load_state_dict({**saved["ema"], "shadow_params": [shadow[n].to(device) for n in names]})
        groups = [{**g, "betas": tuple(g["betas"])} if "betas" in g else g for g in saved["optimizer_groups"]]
        entries: dict[int, dict] = {}
        for key, value in moments.items():
            index, name = key.split(".", 1)
            entries.setdefault(int(index), {})[name] = value
        optimizer.load_state_dict({"state": entries, "param_groups": groups})
        lr_schedule.load_state_dict(saved["lr_schedule"])
    except FileNotFoundError as exc:
        raise CheckpointError(f"{folder}: missing {Path(exc.filename).name} (cut short, or written by an older, "
                              "pickle-based projdiff: not loaded)") from None
    except Exception as exc:  # noqa: BLE001 - safetensors, JSON and torch raise many types for corrupt files
        raise CheckpointError(f"{folder}: cannot be read ({type(exc).__name__}: {str(exc)[:200]})") from None
    return {k: saved[k] for k in ("step", "wall_seconds", "config", "legs") if k in saved}


def _utc_now() -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


def _legs_so_far(state: dict) -> list[dict]:
    """The legs (runs between resumptions) recorded in a checkpoint's state; a checkpoint from before
    legs were recorded counts as one leg on unknown hardware."""
    if "legs" in state:
        return state["legs"]
    if state["step"] == 0:
        return []
    return [{"from_step": 0, "to_step": state["step"], "seconds": state["wall_seconds"],
             "hardware": "unknown (not recorded)", "started": "unknown"}]


def _hardware(accelerator) -> str:
    """The processes and device of this run, e.g. ``"1 x cpu"`` or ``"4 x NVIDIA H200"`` (for the model card)."""
    device = accelerator.device
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else device.type
    return f"{accelerator.num_processes} x {name}"


def train(
    unet,
    scheduler,
    dataset: Dataset,
    output_dir: str | Path,
    config: TrainConfig,
    *,
    validation: torch.Tensor | None = None,
    card: Callable[[dict], str] | None = None,
    metadata: dict | None = None,
    progress: bool = True,
    stop_after: int | None = None,
    accelerator_options: dict | None = None,
) -> dict:
    """Train ``unet`` on ``dataset`` and save the EMA weights as a diffusers pipeline folder.

    Resumes automatically from the newest checkpoint in ``output_dir/checkpoints``.

    Parameters
    ----------
    unet : diffusers.UNet2DModel or UNet1DModel
    scheduler : diffusers.DDPMScheduler
        Its ``prediction_type`` selects the training target.
    dataset : torch Dataset
        Items are tensors of the UNet's sample shape, in the prior's data space (e.g. [-1, 1]); for a
        conditional UNet (more input than output channels) the condition channels come last.
    output_dir : path
    config : TrainConfig
    validation : tensor of shape (N, *sample_shape), optional
        Held-out data for the denoising loss that goes into the log and the model card.
    card : callable, optional
        Builds the model card (Markdown) from the final training summary.
    metadata : dict, optional
        Saved in the output's ``projdiff.json`` for the tasks that use the prior (see
        ``DiffusersPrior``), e.g. an audio prior's sample rate and stem names.
    stop_after : int, optional
        Stop (after checkpointing) once this many steps were run in this call; used by tests that
        simulate an interruption.
    accelerator_options : dict, optional
        Passed to ``accelerate.Accelerator`` (``cpu=True``, ``mixed_precision="bf16"``...); by
        default the launcher's settings apply.

    Raises
    ------
    FloatingPointError
        The loss (or the averaged weights) stopped being finite; nothing is saved.
    CheckpointError
        ``output_dir/checkpoints`` holds checkpoints, but none can be read.

    Returns
    -------
    dict with ``step``, ``wall_seconds`` (all legs), ``hardware`` (processes x device of this run),
    ``heldout_loss``, ``output_dir`` and ``legs``: one dict per run that trained (``from_step``,
    ``to_step``, ``seconds``, ``hardware``, ``started``), kept in the checkpoints, so a run resumed
    on another machine adds a leg instead of replacing the record.
    """
    from accelerate import Accelerator
    from diffusers import DDPMPipeline
    from diffusers.optimization import get_scheduler
    from diffusers.training_utils import EMAModel

    output_dir = Path(output_dir)
    ckpt_dir = output_dir / "checkpoints"
    accelerator = Accelerator(**(accelerator_options or {}))
    rank, world = accelerator.process_index, accelerator.num_processes
    if config.batch_size % world:
        raise ValueError(f"batch_size: expected a multiple of the {world} processes, got {config.batch_size}")
    say = tqdm.write if progress and accelerator.is_main_process else (lambda _text: None)

    optimizer = torch.optim.AdamW(unet.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    lr_schedule = get_scheduler("constant_with_warmup", optimizer, num_warmup_steps=config.warmup_steps)
    ema = EMAModel(unet.parameters(), decay=config.ema_decay, model_cls=type(unet), model_config=unet.config)
    extra = condition_channels_of(unet)
    weights = None if config.sigma_range is None else log_sigma_uniform_weights(scheduler, config.sigma_range)
    unet, optimizer, lr_schedule = accelerator.prepare(unet, optimizer, lr_schedule)
    ema.to(accelerator.device)

    state = {"step": 0, "wall_seconds": 0.0, "config": asdict(config)}
    found = _checkpoints(ckpt_dir)
    skipped = []
    for candidate in found:
        try:
            state = _load_training_state(candidate, accelerator.unwrap_model(unet), ema, optimizer, lr_schedule,
                                         accelerator.device)
            break
        except CheckpointError as exc:
            skipped.append(str(exc))
    if found and len(skipped) == len(found):
        raise CheckpointError(f"{ckpt_dir}: no checkpoint can be resumed from ({skipped[0]}); move the folder "
                              "away to start afresh")
    for reason in skipped:
        say(f"skipped checkpoint {reason}")
    if state["step"]:
        made = state["config"]
        made_range = None if made.get("sigma_range") is None else tuple(made["sigma_range"])
        if (made["batch_size"], made["seed"], made_range) != (config.batch_size, config.seed, config.sigma_range):
            raise ValueError(f"{ckpt_dir}: checkpoint was made with batch_size/seed/sigma_range "
                             f"{made['batch_size']}/{made['seed']}/{made_range}, "
                             f"got {config.batch_size}/{config.seed}/{config.sigma_range}")
        say(f"resumed from step {state['step']} ({found[len(skipped)].name}"
            + (", the newest readable checkpoint)" if skipped else ")"))
        state["config"] = asdict(config)
    state["legs"] = _legs_so_far(state) + [{"from_step": state["step"], "to_step": state["step"], "seconds": 0.0,
                                            "hardware": _hardware(accelerator), "started": _utc_now()}]
    log_path = output_dir / "train_log.jsonl"
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        _truncate_log(log_path, state["step"])

    per_process = config.batch_size // world
    bar = tqdm(total=config.steps, initial=state["step"], disable=not (progress and accelerator.is_main_process),
               desc="train", unit="step")
    started, run_steps, running = time.time(), 0, None
    unet.train()
    while state["step"] < config.steps:
        step = state["step"]
        idx = batch_indices(step, config.batch_size, len(dataset), config.seed)
        epoch = step * config.batch_size // len(dataset)
        x0 = _gather(dataset, idx[rank * per_process : (rank + 1) * per_process], epoch).to(accelerator.device)
        with accelerator.accumulate(unet):
            loss = denoising_loss(unet, scheduler, x0, _generator(config.seed, step, rank, 1), extra, weights)
            accelerator.backward(loss)
            accelerator.clip_grad_norm_(unet.parameters(), 1.0)
            optimizer.step()
            lr_schedule.step()
            optimizer.zero_grad(set_to_none=True)
        ema.step(accelerator.unwrap_model(unet).parameters())
        state["step"] = step + 1
        run_steps += 1
        value = accelerator.reduce(loss.detach(), reduction="mean").item()
        if not math.isfinite(value):
            raise FloatingPointError(f"training diverged at step {state['step']}: the loss is {value} (learning rate "
                                     f"{config.learning_rate:g}); lower the learning rate (--lr). Nothing was saved; "
                                     "a rerun resumes from the last checkpoint")
        running = value if running is None else 0.98 * running + 0.02 * value
        bar.update(1)
        bar.set_postfix(loss=f"{running:.4f}")
        record = {"step": state["step"], "loss": value}
        if validation is not None and (state["step"] % config.validate_every == 0 or state["step"] == config.steps):
            bar.set_description(f"train (held-out loss on {len(validation)} items)")  # the bar pauses meanwhile
            record["heldout_loss"] = _ema_heldout(accelerator, unet, ema, scheduler, validation, weights)
            bar.set_description("train")
        if accelerator.is_main_process:
            with open(log_path, "a") as f:
                f.write(json.dumps(record) + "\n")
        last = state["step"] == config.steps or (stop_after is not None and run_steps >= stop_after)
        if state["step"] % config.checkpoint_every == 0 or last:
            elapsed, started = time.time() - started, time.time()
            state["wall_seconds"] += elapsed
            state["legs"][-1].update(to_step=state["step"], seconds=state["legs"][-1]["seconds"] + elapsed)
            _checkpoint(accelerator, ckpt_dir, state, config.keep_checkpoints,
                        lambda folder: _save_training_state(folder, accelerator.unwrap_model(unet), ema, optimizer,
                                                            lr_schedule, state))
        if stop_after is not None and run_steps >= stop_after:
            break
    bar.close()

    summary = {"step": state["step"], "wall_seconds": round(state["wall_seconds"], 1), "output_dir": str(output_dir),
               "config": asdict(config), "hardware": _hardware(accelerator), "heldout_loss": None,
               "legs": [leg for leg in state["legs"] if leg["to_step"] > leg["from_step"]]}
    if state["step"] < config.steps:
        return summary
    if validation is not None:
        summary["heldout_loss"] = _ema_heldout(accelerator, unet, ema, scheduler, validation, weights)
    if not all(bool(torch.isfinite(p).all()) for p in ema.shadow_params):
        raise FloatingPointError("training diverged: the averaged (EMA) weights are not finite; lower the learning "
                                 "rate (--lr). The model was not saved")
    if accelerator.is_main_process:
        final = type(accelerator.unwrap_model(unet)).from_config(accelerator.unwrap_model(unet).config)
        ema.copy_to(final.parameters())
        DDPMPipeline(unet=final, scheduler=scheduler).save_pretrained(output_dir)
        write_wrapper_config(output_dir, metadata=metadata)
        (output_dir / "training_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        if card is not None:
            (output_dir / "README.md").write_text(card(summary))
    accelerator.wait_for_everyone()
    return summary


def _ema_heldout(accelerator, unet, ema, scheduler, validation: torch.Tensor,
                 timestep_weights: torch.Tensor | None) -> float:
    model = accelerator.unwrap_model(unet)
    ema.store(model.parameters())
    ema.copy_to(model.parameters())
    model.eval()
    value = heldout_loss(model, scheduler, validation.to(accelerator.device), timestep_weights=timestep_weights)
    ema.restore(model.parameters())
    model.train()
    return value


def _checkpoint(accelerator, folder: Path, state: dict, keep: int, save: Callable[[Path], None]) -> None:
    """Write a checkpoint (``save(tmp)`` in the main process) into a temporary folder and rename it, so
    a kill never leaves half of one."""
    target = folder / f"{CHECKPOINT_PREFIX}{state['step']:07d}"
    tmp = folder / f".tmp-{CHECKPOINT_PREFIX}{state['step']:07d}"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save(tmp)
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
        for old in _checkpoints(folder)[keep:]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def _truncate_log(path: Path, step: int) -> None:
    """Drop log lines written after the checkpoint we resume from, and a last line cut short by a
    kill; the log is replaced atomically, so a kill during the truncation loses nothing."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            if json.loads(line)["step"] <= step:
                kept.append(line)
    write_bytes(path, "".join(line + "\n" for line in kept).encode())
