"""`python -m proxy`: the same command line as `cql-dynamo-proxy`."""

import sys

from .cli import main

sys.exit(main())
