"""`python -m failclosed.analyzers` runs the failclosed command line."""

import sys

from failclosed.analyzers.cli import main

sys.exit(main())
