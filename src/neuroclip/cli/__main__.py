"""``python -m neuroclip.cli ...`` (and ``torchrun -m neuroclip.cli ...``): the same as the ``neuroclip`` command."""

import sys

from neuroclip.cli.main import main

sys.exit(main())
