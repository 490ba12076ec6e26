"""`python -m console`: the same as `ivs-archive`."""

import sys

from console.cli import main

sys.exit(main())
