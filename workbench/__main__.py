"""``python -m workbench ...``

A sweep's process is short and made mostly of start-up: importing SQLAlchemy, SQLModel, pandas
allocates hundreds of thousands of objects that live until exit, so the cyclic garbage collector
scanning them over and over frees nothing. ``sweep`` and ``resume`` start with it off and turn it
back on, with everything made so far frozen out of its scans, once their calls start
(:func:`workbench.cli.common.calls_starting`); every command exits with its objects frozen, so the
interpreter does not scan them all once more on the way out (~0.15 s with pandas loaded).
"""

import gc
import sys

if sys.argv[1:2] in (["sweep"], ["resume"]):
    gc.disable()

from workbench.cli import main  # after the collector is set up for start-up

code = main()
gc.freeze()
raise SystemExit(code)
