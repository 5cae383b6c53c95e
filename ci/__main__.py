"""Entry point of `python -m ci`."""

from ci.cli import main

main()
