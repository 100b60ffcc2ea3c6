"""``python -m fuzzyvec`` is the same as ``python -m fuzzyvec.run``."""

import sys

from .run import main

sys.exit(main())
