"""`python -m dbfsm.docs` regenerates every generated file under docs/."""

import sys

from dbfsm.docs.generate import main

sys.exit(main())
