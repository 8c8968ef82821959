"""``python -m ferrofactor``: the ``ferrofactor`` command (see :mod:`ferrofactor.cli`)."""

import sys

from ferrofactor.cli import main

sys.exit(main())
