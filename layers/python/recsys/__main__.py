"""``python -m recsys``: the ``recsys`` command line."""

import sys

from recsys.cli import main

sys.exit(main())
