"""`python -m flows.cli`: the `newswatch` command."""

from flows.cli import main

main()
