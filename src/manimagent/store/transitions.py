"""The statuses of scripts and executions and the moves between them: the one place that says
which status may follow which. `Script.set_status` and `Execution.start` / `Execution.finish`
(store/models.py) are the only writers of a status, and each asks `check_script_move` or
`check_execution_move` first.

One render of a script walks `pending -> executing -> (debugging -> executing)* -> successful |
failed`; its executions walk `queued -> running -> succeeded | cached | failed | interrupted`.
Around that path:

- a render can start again on a finished script (`successful | failed -> executing`);
- two renders of one script may run at once (a server): the script says what the latest event of
  either was, so a finished script may see the other render repair or end (`RACES`);
- a queued execution can fail or be cancelled before it starts (`queued -> failed | interrupted`);
- the job queue settles an interrupted execution once more with the reason its job ended
  (`interrupted -> failed | interrupted`).

Nothing goes back to `pending` or `queued`, and nothing succeeds without having rendered.
"""

from __future__ import annotations

from enum import StrEnum

from manimagent.errors import ManimagentError

# Seconds past its time limit after which a "running" render was certainly abandoned: every engine
# kills a render at its limit, and moving the files and writing the rows takes far less.
ABANDON_GRACE = 120.0


class ScriptStatus(StrEnum):
    PENDING = "pending"
    EXECUTING = "executing"
    DEBUGGING = "debugging"
    SUCCESSFUL = "successful"
    FAILED = "failed"


class ExecutionStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    CACHED = "cached"  # succeeded without a render: every scene came from the render cache
    FAILED = "failed"
    INTERRUPTED = "interrupted"


S, E = ScriptStatus, ExecutionStatus

# the path of one render of a script (a new attempt starts `executing` again)
SCRIPT_MOVES: dict[ScriptStatus, frozenset[ScriptStatus]] = {
    S.PENDING: frozenset({S.EXECUTING, S.FAILED}),
    S.EXECUTING: frozenset({S.EXECUTING, S.DEBUGGING, S.SUCCESSFUL, S.FAILED}),
    S.DEBUGGING: frozenset({S.EXECUTING, S.FAILED}),
    S.SUCCESSFUL: frozenset({S.EXECUTING}),
    S.FAILED: frozenset({S.EXECUTING}),
}
# what another render of the same script, running at the same time, may write over this one's status
RACES: dict[ScriptStatus, frozenset[ScriptStatus]] = {
    S.DEBUGGING: frozenset({S.DEBUGGING, S.SUCCESSFUL}),
    S.SUCCESSFUL: frozenset({S.DEBUGGING, S.SUCCESSFUL, S.FAILED}),
    S.FAILED: frozenset({S.DEBUGGING, S.SUCCESSFUL, S.FAILED}),
}
EXECUTION_MOVES: dict[ExecutionStatus, frozenset[ExecutionStatus]] = {
    E.QUEUED: frozenset({E.RUNNING, E.FAILED, E.INTERRUPTED}),
    E.RUNNING: frozenset({E.SUCCEEDED, E.CACHED, E.FAILED, E.INTERRUPTED}),
    E.INTERRUPTED: frozenset({E.FAILED, E.INTERRUPTED}),  # the job queue says why its job ended
    E.SUCCEEDED: frozenset(),
    E.CACHED: frozenset(),
    E.FAILED: frozenset(),
}
UNFINISHED = frozenset({E.QUEUED, E.RUNNING})  # an execution still to settle when its render stops
SUCCESSES = frozenset({E.SUCCEEDED, E.CACHED})


class IllegalTransition(ManimagentError):
    """A status write the tables above do not allow: a bug in the code that asked for it."""


def script_moves(current: str) -> frozenset[ScriptStatus]:
    """The statuses a script with status `current` may take next."""
    status = ScriptStatus(current)
    return SCRIPT_MOVES[status] | RACES.get(status, frozenset())


def check_script_move(current: str, new: ScriptStatus) -> None:
    if new not in script_moves(current):
        raise IllegalTransition(f"a script cannot go from {current} to {new.value}")


def check_execution_move(current: str, new: ExecutionStatus) -> None:
    if new not in EXECUTION_MOVES[ExecutionStatus(current)]:
        raise IllegalTransition(f"an execution cannot go from {current} to {new.value}")


def is_unfinished(status: str) -> bool:
    return status in UNFINISHED
