"""Evaluation suites shipped with manimagent (package data): `manimagent eval builtin`."""
