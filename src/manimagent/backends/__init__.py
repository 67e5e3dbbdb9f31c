"""The typed backends of the CLI: one Protocol per resource (`protocols.py`), answered on this
machine's store (`local.LocalBackend`) or through a `manimagent serve` (`remote.RemoteBackend`).

Below `cli/`: it imports services and the HTTP transport (`manimagent.client`), and nothing here
imports Typer, Rich or `cli/`.
"""
