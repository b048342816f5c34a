"""`python -m dbfsm` is the `dbfsm` command."""

import sys

from dbfsm.cli import main

sys.exit(main())
