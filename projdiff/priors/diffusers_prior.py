"""A diffusers UNet (2D or 1D) and its DDPM-style noise schedule, wrapped once into ``D(x, sigma)``.

A variance-preserving model sees ``x_t = sqrt(abar_t) (x0 + sigma eps)`` with
``sigma_t = sqrt((1 - abar_t) / abar_t)``. The wrapper scales the input by ``1 / sqrt(1 + sigma^2)``,
maps ``sigma`` to a fractional time step by interpolating ``log sigma_t`` (the UNets' sinusoidal
time embedding accepts real-valued steps), and turns the network output into ``x0`` according to
the scheduler's prediction type (``epsilon``, ``v_prediction`` or ``sample``; the one
table in ``projdiff.priors.prediction``, which also holds the training loss).

Extra output channels (learned variance, 2C outputs for C inputs) are dropped.

Conditional models: a UNet with more input than output channels takes the extra ones as a
condition (e.g. a lesion mask) concatenated to the noisy input. ``denoise(x, sigma, condition)``
passes it; ``with_condition(condition)`` binds it, giving an ordinary prior for ``solve``.

Folder layout (that of a diffusers ``DDPMPipeline``): ``unet/`` and ``scheduler/`` subfolders, or a
bare UNet folder with ``scheduler_config.json`` beside its ``config.json``; ``projdiff.json`` keeps
the wrapper's own settings (the data range).
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import torch

from projdiff.engine.schedules import alphas_cumprod_to_sigmas
from projdiff.priors.base import Prior, sigma_column
from projdiff.priors.prediction import prediction_of

WRAPPER_CONFIG = "projdiff.json"
UNET_CLASSES = ("UNet2DModel", "UNet1DModel")
SCHEDULER_CLASSES = ("DDPMScheduler", "DDIMScheduler")


class DiffusersPrior(Prior):
    """Denoiser from a diffusers ``UNet2DModel`` / ``UNet1DModel`` and a DDPM-style scheduler.

    Parameters
    ----------
    unet : diffusers.UNet2DModel or diffusers.UNet1DModel
        Called as ``unet(x_t, t).sample``.
    scheduler : diffusers scheduler
        Anything with ``alphas_cumprod`` and ``config.prediction_type`` (``DDPMScheduler``,
        ``DDIMScheduler``, ...).
    data_range : (float, float), default (-1, 1)
        Range of the training data (used by tasks to map pixels to the prior, and for
        ``sigma_data``, a quarter of its width: 0.5 for [-1, 1], EDM's value for images).
    metadata : dict, optional
        Anything a task needs to use the prior (e.g. an audio prior's ``sample_rate``, ``stems`` and
        ``waveform_scale``); saved with the weights in ``projdiff.json``.

    Attributes
    ----------
    shape : tuple
        ``(channels, None, None)`` for 2D UNets and ``(channels, None)`` for 1D ones: the spatial
        size is free (fully convolutional) but must be divisible by ``size_multiple``.
    sigmas : tensor of shape (T,)
        The training noise levels, ascending.
    """

    def __init__(self, unet, scheduler, *, data_range: tuple[float, float] = (-1.0, 1.0),
                 metadata: dict | None = None):
        super().__init__()
        self.prediction = prediction_of(scheduler)
        self.unet = unet.eval()
        self.scheduler = scheduler
        self.data_range = (float(data_range[0]), float(data_range[1]))
        self.metadata = dict(metadata or {})
        sigmas = alphas_cumprod_to_sigmas(torch.as_tensor(scheduler.alphas_cumprod))
        self.sigmas = sigmas.float()
        self._log_sigmas = sigmas.log()
        self.sigma_min, self.sigma_max = float(sigmas[0]), float(sigmas[-1])
        self.sigma_data = (self.data_range[1] - self.data_range[0]) / 4  # 0.5 for [-1, 1], as in EDM
        self.data_center = (self.data_range[0] + self.data_range[1]) / 2
        inputs, outputs = unet.config.in_channels, unet.config.out_channels
        channels = inputs if outputs == 2 * inputs else outputs
        self.condition_channels = inputs - channels
        blocks = len(unet.config.down_block_types)
        self.size_multiple = 2 ** max(blocks - 1, 0)
        self.shape = (channels, None, None) if "2D" in type(unet).__name__ else (channels, None)

    @property
    def prediction_type(self) -> str:
        """What the UNet predicts: ``epsilon``, ``v_prediction`` or ``sample``."""
        return self.prediction.name

    def check_shape(self, shape) -> None:
        super().check_shape(shape)
        bad = [s for s in tuple(shape)[1:] if s % self.size_multiple]
        if bad:
            raise ValueError(f"operator.input_shape: spatial sizes must be multiples of {self.size_multiple} "
                             f"for this UNet, got {tuple(shape)}")

    def sigma_to_t(self, sigma: torch.Tensor) -> torch.Tensor:
        """Fractional time step of each noise level (log-sigma interpolation), clamped to [0, T-1]."""
        log_sigma = sigma.double().clamp_min(1e-20).log()
        grid = self._log_sigmas.to(log_sigma.device)
        idx = torch.searchsorted(grid, log_sigma).clamp(1, grid.shape[0] - 1)
        lo, hi = grid[idx - 1], grid[idx]
        frac = ((log_sigma - lo) / (hi - lo)).clamp(0, 1)
        return (idx - 1 + frac).float()

    def denoise(self, x: torch.Tensor, sigma: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """``D(x, sigma)``; ``condition`` (N, condition_channels, ...) is required by conditional UNets."""
        s = sigma_column(sigma, x)
        c_in = 1 / (1 + s**2).sqrt()
        t = self.sigma_to_t(s.flatten()).to(x.device)
        param = next(self.unet.parameters())
        inputs = x * c_in
        if self.condition_channels:
            if condition is None or condition.shape[1] != self.condition_channels:
                got = None if condition is None else tuple(condition.shape)
                raise ValueError(f"condition: this prior needs {self.condition_channels} condition channel(s) "
                                 f"(use prior.with_condition(...)), got {got}")
            inputs = torch.cat([inputs, condition.to(x)], dim=1)
        out = self.unet(inputs.to(param.dtype), t).sample.to(x.dtype)
        if out.shape[1] == 2 * x.shape[1]:
            out = out[:, : x.shape[1]]
        return self.prediction.denoised(x, s, out)

    def with_condition(self, condition: torch.Tensor) -> "ConditionedPrior":
        """This prior with a fixed condition of shape (B, condition_channels, ...), one per item."""
        return ConditionedPrior(self, condition)

    @classmethod
    def from_pretrained(cls, path_or_id: str | Path, **kwargs) -> "DiffusersPrior":
        """Load from a local folder (see the module docstring) or a Hugging Face hub id.

        Only the model and scheduler classes projdiff supports are built (``UNET_CLASSES``,
        ``SCHEDULER_CLASSES``): the ``_class_name`` of an untrusted folder cannot select another
        diffusers attribute. Weights are read from safetensors files only.

        Raises ``FileNotFoundError`` naming the folder when it holds no UNet, ``ValueError`` naming
        the file when a config, the weights or ``projdiff.json`` cannot be used, and ``OSError``
        naming the id when a hub download is impossible (no network: found out within seconds).
        """
        import diffusers

        path = Path(path_or_id)
        if path.is_dir():
            unet_dir = path / "unet" if (path / "unet" / "config.json").is_file() else path
            sched_dir = path / "scheduler" if (path / "scheduler").is_dir() else path
            if not (unet_dir / "config.json").is_file():
                raise FileNotFoundError(f"{path}: no UNet found (expected unet/config.json or config.json)")
            unet_config = _read_json(unet_dir / "config.json")
            unet_cls = getattr(diffusers, _allowed(unet_config, "UNet2DModel", UNET_CLASSES, unet_dir / "config.json"))
            try:
                unet = unet_cls.from_pretrained(unet_dir, use_safetensors=True, **kwargs)
            except Exception as exc:  # noqa: BLE001 - corrupt weights raise many types (OSError, SafetensorError...)
                raise ValueError(f"{unet_dir}: cannot load the UNet weights ({type(exc).__name__}: "
                                 f"{str(exc).splitlines()[0][:200] if str(exc) else ''})") from None
            sched_file = next((sched_dir / n for n in ("scheduler_config.json", "config.json")
                               if (sched_dir / n).is_file() and "num_train_timesteps" in (sched_dir / n).read_text()),
                              None)
            if sched_file is None:
                raise FileNotFoundError(f"{path}: no scheduler config found (expected scheduler/scheduler_config.json)")
            sched_config = _read_json(sched_file)
            sched_cls = getattr(diffusers, _allowed(sched_config, "DDPMScheduler", SCHEDULER_CLASSES, sched_file))
            try:
                scheduler = sched_cls.from_config(sched_config)
            except Exception as exc:  # noqa: BLE001 - a config with wrong values
                raise ValueError(f"{sched_file}: not a usable scheduler config ({type(exc).__name__}: {exc})") from None
            wrapper = _read_json(path / WRAPPER_CONFIG) if (path / WRAPPER_CONFIG).is_file() else {}
            data_range, metadata = wrapper.get("data_range", (-1.0, 1.0)), wrapper.get("metadata") or {}
            if not (isinstance(data_range, (list, tuple)) and len(data_range) == 2 and
                    all(isinstance(v, (int, float)) and math.isfinite(v) for v in data_range)
                    and data_range[0] < data_range[1]) or not isinstance(metadata, dict):
                raise ValueError(f"{path / WRAPPER_CONFIG}: expected data_range [low, high] and a metadata table, got "
                                 f"{data_range!r} and {type(metadata).__name__}")
            return cls(unet, scheduler, data_range=tuple(data_range), metadata=metadata)
        if path.exists() or str(path_or_id).startswith((".", "/")) or str(path_or_id).count("/") != 1:
            raise FileNotFoundError(f"{path_or_id}: not a folder with a diffusers model (and not a hub id)")
        try:
            with warnings.catch_warnings():  # the hub's deprecation notices are not the user's business
                warnings.simplefilter("ignore")
                unet = diffusers.UNet2DModel.from_pretrained(str(path_or_id), subfolder="unet", use_safetensors=True,
                                                             local_files_only=not _hub_reachable(), **kwargs)
                scheduler = diffusers.DDPMScheduler.from_pretrained(str(path_or_id), subfolder="scheduler")
        except Exception as exc:  # network or hub errors come in many types
            raise OSError(f"{path_or_id}: could not load from the Hugging Face hub ({type(exc).__name__}); "
                          "download the model folder where a network is available and pass its path") from None
        return cls(unet, scheduler)

    def save_pretrained(self, folder: str | Path) -> None:
        """Write ``unet/``, ``scheduler/``, ``model_index.json`` and ``projdiff.json`` to ``folder``."""
        from diffusers import DDPMPipeline

        folder = Path(folder)
        DDPMPipeline(unet=self.unet, scheduler=self.scheduler).save_pretrained(folder)
        write_wrapper_config(folder, self.data_range, self.metadata)


class ConditionedPrior(Prior):
    """A conditional prior with its condition bound: ``D(x, sigma) = base.denoise(x, sigma, c)``.

    The condition holds one entry per input item (B, ...); the solver's K samples of B items arrive
    as K * B rows in sample-major order, so the condition is tiled K times.
    """

    def __init__(self, base: DiffusersPrior, condition: torch.Tensor):
        super().__init__()
        self.base = base
        self.condition = condition
        self.shape, self.sigmas = base.shape, base.sigmas
        self.sigma_min, self.sigma_max, self.sigma_data = base.sigma_min, base.sigma_max, base.sigma_data
        self.data_center = base.data_center
        self.data_range, self.metadata = base.data_range, base.metadata

    def check_shape(self, shape) -> None:
        self.base.check_shape(shape)

    def denoise(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        items = self.condition.shape[0]
        if x.shape[0] % items:
            raise ValueError(f"condition: {items} items do not divide the batch of {x.shape[0]}")
        return self.base.denoise(x, sigma, self.condition.repeat(x.shape[0] // items, *([1] * (x.dim() - 1))))


def _read_json(path: Path) -> dict:
    """A JSON object from a model folder; ValueError naming the file when it is not one."""
    try:
        value = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(value).__name__}")
    return value


def _allowed(config: dict, default: str, allowed: tuple[str, ...], path: Path) -> str:
    name = config.get("_class_name", default)
    if name not in allowed:
        raise ValueError(f"{path}: _class_name {name!r} is not supported; expected one of {', '.join(allowed)}")
    return name


def _hub_reachable(timeout: float = 5.0) -> bool:
    """Whether the Hugging Face hub answers within ``timeout`` seconds (else only its local cache is used)."""
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    url = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def write_wrapper_config(folder: str | Path, data_range=(-1.0, 1.0), metadata: dict | None = None) -> None:
    """Write ``projdiff.json`` (the wrapper's settings) into a model folder."""
    config = {"data_range": list(data_range), "metadata": dict(metadata or {})}
    (Path(folder) / WRAPPER_CONFIG).write_text(json.dumps(config, indent=2) + "\n")
