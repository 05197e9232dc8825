"""The applications the command line offers: one registration line each."""

from projdiff.apps.audio.app import APP as AUDIO
from projdiff.apps.restoration.app import APP as RESTORATION
from projdiff.apps.tumor.app import APP as TUMOR

APPLICATIONS = (RESTORATION, AUDIO, TUMOR)
