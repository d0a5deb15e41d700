#!/usr/bin/env python3
"""zinit benchmark against runit, s6 and supervisord (issue 6).

    python3 bench/bench.py [--quick] [--json FILE] [--only SCENARIO,...] [--rounds R]

See bench/README.md. Python 3.11 standard library only; run as root.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from zbench.main import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
