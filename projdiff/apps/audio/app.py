"""The audio application as ``projdiff`` sees it: its subcommands, dataset and training recipe."""

from pathlib import Path

from projdiff.apps.audio.commands import data_chorales, fit_nmf, generate, separate
from projdiff.apps.audio.recipes import AUDIO_SMALL, AUDIO_TINY, PRESETS, ChoraleStems
from projdiff.apps.base import Application, DataSourceType

APP = Application(
    "audio",
    commands=(separate.COMMAND, generate.COMMAND, fit_nmf.COMMAND),
    datasets=(data_chorales.COMMAND,),
    presets=PRESETS,
    data_sources=(DataSourceType("chorales", lambda path: ChoraleStems(Path(path))),),
    architectures={a.name: a for a in (AUDIO_SMALL, AUDIO_TINY)},
)
