"""`python -m manimagent` runs the CLI."""

from manimagent.console import main

main()
