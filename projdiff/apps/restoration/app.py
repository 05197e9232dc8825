"""The restoration application as ``projdiff`` sees it: its subcommands and training data."""

from pathlib import Path

from projdiff.apps.base import Application, DataSourceType
from projdiff.apps.restoration.commands import data_photos, demo, restore, run
from projdiff.apps.restoration.recipes import PHOTO_UNET, PRESETS, FashionMNISTData, ImageFolderData, PhotoCrops

APP = Application(
    "restoration",
    commands=(restore.COMMAND, demo.COMMAND, run.COMMAND),
    datasets=(data_photos.COMMAND,),
    presets=PRESETS,
    data_sources=(DataSourceType("fashion-mnist", lambda path: FashionMNISTData(), takes_path=False),
                  DataSourceType("folder", lambda path: ImageFolderData(Path(path))),
                  DataSourceType("patches", lambda path: ImageFolderData(Path(path), patches=True)),
                  DataSourceType("photos", lambda path: PhotoCrops(Path(path)))),
    architectures={PHOTO_UNET.name: PHOTO_UNET},
)
