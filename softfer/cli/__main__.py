"""`python -m softfer.cli` (used by torchrun: ``torchrun ... -m softfer.cli train CONFIG``)."""

import sys

from softfer.cli import main

sys.exit(main())
