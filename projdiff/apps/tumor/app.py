"""The tumor application as ``projdiff`` sees it: its subcommand, dataset and training recipe."""

from pathlib import Path

from projdiff.apps.base import Application, DataSourceType
from projdiff.apps.tumor.commands import data_lesions, tumor
from projdiff.apps.tumor.recipes import PRESETS, LesionCropData

APP = Application(
    "tumor",
    commands=(tumor.COMMAND,),
    datasets=(data_lesions.COMMAND,),
    presets=PRESETS,
    data_sources=(DataSourceType("lesions", lambda path: LesionCropData(Path(path))),),
)
