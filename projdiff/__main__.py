import sys

from projdiff.cli import main

sys.exit(main())
