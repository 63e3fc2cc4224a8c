"""`python -m minicnn ...` runs the command line (see minicnn/cli.py)."""
import sys

from .cli import main

sys.exit(main())
