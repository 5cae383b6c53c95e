"""`python -m challenge ...`: see challenge/cli.py."""

from challenge.cli import main

main()
