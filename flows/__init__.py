"""newswatch: the flows, their stages and the command line.

These machines export PYTHONDONTWRITEBYTECODE=1. Without cached bytecode `import prefect`
takes 4-4.7 s instead of 1.6-2.4 s on every run, so newswatch lets Python write the bytecode
of what it imports, once, as Python does by default. (uv's `compile-bytecode` did that at
install time, but also recompiled the whole environment before every `uv run`.)
"""

import sys

sys.dont_write_bytecode = False
