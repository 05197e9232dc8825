"""The restoration application as ``projdiff`` sees it: its subcommands and training data."""

from projdiff.apps.base import Application, DataSourceType
from projdiff.apps.restoration.commands import demo, restore, run
from projdiff.apps.restoration.recipes import PRESETS, FashionMNISTData, ImageFolderData

APP = Application(
    "restoration",
    commands=(restore.COMMAND, demo.COMMAND, run.COMMAND),
    presets=PRESETS,
    data_sources=(DataSourceType("fashion-mnist", lambda path: FashionMNISTData(), takes_path=False),
                  DataSourceType("folder", lambda path: ImageFolderData(path)),
                  DataSourceType("patches", lambda path: ImageFolderData(path, patches=True))),
)
