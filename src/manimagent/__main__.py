"""`python -m manimagent` runs the CLI."""

from manimagent.cli import entry

entry()
