"""`python -m analyzers` runs the failclosed command line."""

import sys

from analyzers.cli import main

sys.exit(main())
