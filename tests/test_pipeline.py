"""The pipeline with a fake engine: rows per attempt, deletion during a render, refusals."""

from __future__ import annotations

import pytest
from sqlmodel import select

from manimagent.attempt import NewScript, RenderOptions
from manimagent.context import local_context
from manimagent.errors import InvalidScript, NotFound
from manimagent.pipeline import run_attempts
from manimagent.render.base import OutputFormat, Quality, RenderFailure, RenderResult
from manimagent.store.models import Execution, Script

CODE = "from manim import *\nclass A(Scene):\n    def construct(self):\n        self.add(Dot())\n"


class FakeEngine:
    """Renders by writing a small file; `during` runs inside the render (to delete rows, say)."""

    name = "fake"
    has_latex = True

    def __init__(self, results: list[bool], during=None):
        self.results = results
        self.during = during
        self.codes: list[str] = []

    def render(self, request, staging, on_progress=None):
        self.codes.append(request.code)
        if self.during:
            self.during()
        if not self.results.pop(0):
            return RenderResult(
                ok=False,
                log="boom",
                failure=RenderFailure(
                    "ValueError", "operands could not be broadcast together with shapes (2,) (3,)", 4
                ),
            )
        staging.mkdir(parents=True, exist_ok=True)
        out = staging / f"{request.scenes[0]}.mp4"
        out.write_bytes(b"video")
        return RenderResult(ok=True, outputs=[out], log="ok", duration=0.1)


def _options(engine, attempts=1):
    return RenderOptions(
        engine=engine, quality=Quality.LOW, format=OutputFormat.MP4, max_attempts=attempts, timeout=10
    )


def test_a_script_deleted_during_its_render_publishes_nothing(isolated_home):
    ctx = local_context()

    def delete_everything():
        with ctx.session() as session:
            for model in (Execution, Script):
                for row in session.exec(select(model)).all():
                    session.delete(row)
            session.commit()

    with pytest.raises(NotFound, match="deleted while it rendered"):
        run_attempts(ctx, NewScript(code=CODE, prompt="p"), _options(FakeEngine([True], delete_everything)))
    media = isolated_home / "media"
    assert [p for p in media.rglob("*") if p.is_file()] == []


def test_deterministic_repair_rows(isolated_home):
    ctx = local_context()
    code = CODE.replace("self.add(Dot())", "self.add(Dot().move_to(np.array([1, 2])))")
    engine = FakeEngine([False, True])
    result = run_attempts(ctx, NewScript(code=code, prompt="p"), _options(engine, attempts=2))
    assert result.success and result.attempts == 2
    assert "np.array([1, 2, 0])" in engine.codes[1]
    with ctx.session() as session:
        first, second = sorted(session.exec(select(Execution)).all(), key=lambda row: row.attempt_number)
        assert (
            first.status == "failed"
            and first.error_line == 4
            and "np.array([1, 2, 0])" in first.modified_script
        )
        assert second.status == "succeeded" and second.original_script == first.modified_script
        assert session.get(Script, result.script_id).content == engine.codes[1]


def test_a_hostile_file_is_refused_before_rendering(isolated_home):
    ctx = local_context()
    engine = FakeEngine([True])
    hostile = "import socket\n" + CODE
    with pytest.raises(InvalidScript, match="refused"):
        run_attempts(ctx, NewScript(code=hostile, prompt="p"), _options(engine))
    assert engine.codes == []
    with ctx.session() as session:
        row = session.exec(select(Execution)).one()
        assert row.status == "failed" and row.error_type == "PolicyViolation"


@pytest.mark.parametrize("where", ["_report", "_store_new", "RenderStarted", "_wait", "during", "_succeed"])
def test_an_interrupt_anywhere_around_the_rows_settles_them(isolated_home, monkeypatch, where):
    """A batch's interrupt can land at any bytecode: before the rows (none written), just after
    their commit (before the render is announced) or during the render, the rows never stay
    `running`/`executing`, and the exception says which Execution it ended."""
    import manimagent.pipeline as pipeline
    from manimagent.errors import Interrupted

    ctx = local_context()

    def interrupt():
        raise KeyboardInterrupt

    if where != "during":  # else: inside the render
        real = getattr(pipeline, where)

        def interrupting(*args, **kwargs):
            if where in ("_report", "_succeed"):  # before anything is written; before success is
                raise KeyboardInterrupt
            real(*args, **kwargs)  # the rows are committed (or the render ran): then Ctrl-C
            raise KeyboardInterrupt

        monkeypatch.setattr(pipeline, where, interrupting)
    with pytest.raises(Interrupted) as raised:
        run_attempts(
            ctx,
            NewScript(code=CODE, prompt="p"),
            _options(FakeEngine([True], interrupt if where == "during" else None)),
        )
    with ctx.session() as session:
        executions, scripts = session.exec(select(Execution)).all(), session.exec(select(Script)).all()
    if where == "_report":
        assert raised.value.execution_id is None and executions == [] and scripts == []
        return
    assert [row.status for row in executions] == ["interrupted"] and raised.value.execution_id == executions[
        0
    ].id
    assert [(row.status, row.error) for row in scripts] == [("failed", "interrupted")]
