"""python -m meshlab_testlib before|after STATE [WHAT]: the checkout's fact cache guard (see factcache.py)."""

import sys

from meshlab_testlib.factcache import main

sys.exit(main())
