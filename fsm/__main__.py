"""`python -m fsm` is the `dbfsm` command."""

import sys

from fsm.cli import main

sys.exit(main())
