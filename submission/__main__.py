"""`python -m submission ...`: see submission/cli.py."""

from submission.cli import main

main()
