"""``python -m lstmgen ...`` (and ``torchrun -m lstmgen train ...``): the same as the ``lstmgen`` command."""

import sys

from .cli import main

sys.exit(main())
