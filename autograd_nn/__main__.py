"""``python -m autograd_nn`` runs the ``autograd-nn`` command line."""

import sys

from .digits.cli import main

sys.exit(main())
