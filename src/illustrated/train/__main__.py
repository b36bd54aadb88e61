"""``python -m illustrated.train``: see :mod:`illustrated.train.cli`."""

import sys

from illustrated.train.cli import main

sys.exit(main())
