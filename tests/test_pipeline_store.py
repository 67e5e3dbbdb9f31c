"""The pipeline decides, the store persists: the status transitions, and what a `generate` costs
on its success path (database sessions, moves of the video) with the offline provider and a real render."""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlmodel import select

from conftest import video_duration
from manimagent.context import Context, local_context
from manimagent.store.models import Execution, Script, User
from manimagent.store.transitions import (
    ExecutionStatus,
    IllegalTransition,
    ScriptStatus,
    check_execution_move,
    check_script_move,
    script_moves,
)

S, E = ScriptStatus, ExecutionStatus

# every allowed move, written out: the tables of store/transitions.py must say exactly this
SCRIPT_ALLOWED = {
    (S.PENDING, S.EXECUTING),
    (S.PENDING, S.FAILED),
    (S.EXECUTING, S.EXECUTING),  # the next attempt
    (S.EXECUTING, S.DEBUGGING),
    (S.EXECUTING, S.SUCCESSFUL),
    (S.EXECUTING, S.FAILED),
    (S.DEBUGGING, S.EXECUTING),
    (S.DEBUGGING, S.FAILED),
    (S.SUCCESSFUL, S.EXECUTING),  # rendered again
    (S.FAILED, S.EXECUTING),  # retried
    # another render of the same script, at the same time
    (S.DEBUGGING, S.DEBUGGING),
    (S.DEBUGGING, S.SUCCESSFUL),
    (S.SUCCESSFUL, S.DEBUGGING),
    (S.SUCCESSFUL, S.SUCCESSFUL),
    (S.SUCCESSFUL, S.FAILED),
    (S.FAILED, S.DEBUGGING),
    (S.FAILED, S.SUCCESSFUL),
    (S.FAILED, S.FAILED),  # a failed LLM repair, then the give-up
}
EXECUTION_ALLOWED = {
    (E.QUEUED, E.RUNNING),
    (E.QUEUED, E.FAILED),  # could not start (bad option, server stopped)
    (E.QUEUED, E.INTERRUPTED),  # cancelled, or Ctrl-C before the render
    (E.RUNNING, E.SUCCEEDED),
    (E.RUNNING, E.CACHED),
    (E.RUNNING, E.FAILED),
    (E.RUNNING, E.INTERRUPTED),
    (E.INTERRUPTED, E.FAILED),  # the job queue settles a cancelled job's rows with its reason
    (E.INTERRUPTED, E.INTERRUPTED),
}


@pytest.mark.parametrize("old", list(S))
@pytest.mark.parametrize("new", list(S))
def test_script_transitions(old, new):
    if (old, new) in SCRIPT_ALLOWED:
        check_script_move(old.value, new)
        assert new in script_moves(old.value)
    else:
        with pytest.raises(IllegalTransition, match=f"from {old.value} to {new.value}"):
            check_script_move(old.value, new)


@pytest.mark.parametrize("old", list(E))
@pytest.mark.parametrize("new", list(E))
def test_execution_transitions(old, new):
    if (old, new) in EXECUTION_ALLOWED:
        check_execution_move(old.value, new)
    else:
        with pytest.raises(IllegalTransition, match=f"from {old.value} to {new.value}"):
            check_execution_move(old.value, new)


def test_one_render_walks_the_documented_path():
    script, execution = Script(), Execution(script_id="s")
    assert (script.status, execution.status) == ("pending", "queued")
    for status in (S.EXECUTING, S.DEBUGGING, S.EXECUTING, S.SUCCESSFUL):
        script.set_status(status)
    execution.start()
    execution.finish(E.SUCCEEDED)
    assert (script.status, execution.status) == ("successful", "succeeded")
    with pytest.raises(IllegalTransition):
        execution.finish(E.FAILED)  # a finished attempt stays as it ended
    with pytest.raises(IllegalTransition):
        Script().set_status(S.SUCCESSFUL)  # nothing succeeds without rendering
    assert execution.status == "succeeded"


def test_ownership_is_one_query_helper(isolated_home):
    from manimagent.store.owned import owned

    local = local_context()
    with local.session() as session:
        for user_id in (1, 2):
            session.add(User(id=user_id, email=f"u{user_id}@example.com", password_hash="h"))
        session.flush()
        for owner in (None, 1, 2):
            session.add(Script(owner_id=owner, prompt=f"of {owner}"))
        session.commit()
        user = Context(settings=local.settings, user_id=1, is_admin=False)
        mine = session.exec(owned(select(Script), user, Script)).all()
        every = session.exec(owned(select(Script), local, Script)).all()
    assert [row.prompt for row in mine] == ["of 1"] and len(every) == 3


def test_a_context_says_whether_it_is_an_admin(isolated_home):
    settings = local_context().settings
    with pytest.raises(TypeError, match="is_admin"):
        Context(settings=settings)  # type: ignore[call-arg]
    assert local_context().is_admin and local_context().user_id is None


# --- a generate on its success path ---------------------------------------------------------------


@pytest.fixture
def counted(monkeypatch):
    """Counts the database sessions opened and records every move (os.rename, os.replace, shutil.move)."""
    seen = {"sessions": 0, "renames": []}
    real_session = Context.session

    @contextmanager
    def session(self):
        seen["sessions"] += 1
        with real_session(self) as opened:
            yield opened

    inside_move = []

    def recording(real):
        def rename(src, dst, *args, **kwargs):
            if not inside_move:  # shutil.move's own rename is its move, recorded once
                seen["renames"].append((Path(src), Path(dst)))
            inside_move.append(True)
            try:
                return real(src, dst, *args, **kwargs)
            finally:
                inside_move.pop()

        return rename

    monkeypatch.setattr(Context, "session", session)
    monkeypatch.setattr(os, "rename", recording(os.rename))
    monkeypatch.setattr(os, "replace", recording(os.replace))
    monkeypatch.setattr(shutil, "move", recording(shutil.move))  # a move across file systems copies
    return seen


def _moves_of(path: Path, renames: list[tuple[Path, Path]]) -> list[tuple[Path, Path]]:
    """The renames that brought the file at `path` there, first to last (a folder's rename moves its
    files)."""
    hops = []
    for src, dst in reversed(renames):
        if path == dst or dst in path.parents:
            before = src / path.relative_to(dst)
            hops.append((before, path))
            path = before
    return list(reversed(hops))


@pytest.mark.slow
def test_a_generate_opens_three_sessions_and_moves_the_video_once(isolated_home, tmp_path, counted):
    from manimagent.services.generate import generate

    ctx = local_context()
    output = tmp_path / "out" / "circle.mp4"
    before = counted["sessions"]
    result = generate(ctx, prompt="Animate a blue circle", engine="local", output=str(output))
    sessions = counted["sessions"] - before
    assert result.success, result.error
    assert sessions <= 3, f"a generate opened {sessions} database sessions"
    with ctx.session() as session:
        row = session.exec(select(Execution)).one()
    stored = Path(row.output_path)
    media = isolated_home / "media"
    assert stored.parent == media / row.script_id / row.id and stored.is_file()
    moves = _moves_of(stored, counted["renames"])
    assert len(moves) == 1, moves  # from the render's job folder straight to its final place
    assert media not in moves[0][0].parents  # the job folder is the render's own, not a staging step
    assert output.is_file() and video_duration(output) > 0.3  # --output is a copy; the stored one stays
    assert not any((media / ".staging").glob("job-*"))
