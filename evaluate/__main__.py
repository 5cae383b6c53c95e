"""`python -m evaluate ...`: see evaluate/cli.py."""

from evaluate.cli import main

main()
