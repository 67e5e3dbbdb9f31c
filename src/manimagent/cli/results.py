"""Printing the results shared by several commands, and their exit codes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from manimagent.cli.output import output
from manimagent.errors import ExitCode

if TYPE_CHECKING:
    from manimagent.schemas import ExecuteResult


def print_execute_result(result: ExecuteResult, *, json_: bool) -> None:
    """Print an execution result; a failed render exits 1 after printing."""
    if json_:
        output.json(result)
    elif result.success:
        output.line(result.output_path or "")
    if not result.success:
        output.error(f"no attempt succeeded ({result.attempts} tried): {result.error}")
        if not json_:
            _print_kept(result)
            output.info(f"See the log: manimagent executions show {result.execution_id} --log")
        raise typer.Exit(int(ExitCode.FAILED))


def _print_kept(result: ExecuteResult) -> None:
    """The scenes of a failed render that did render (on stderr), and with --partial their joined
    video (on stdout, where a success prints its video)."""
    kept = [row["scene"] for row in result.scene_outputs if row.get("status") == "rendered"]
    if kept:
        output.info(f"Kept the scenes that rendered ({', '.join(kept)}): {', '.join(result.outputs)}")
    if result.output_path:
        output.line(result.output_path)
