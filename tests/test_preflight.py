"""Preflight: above -ql a dry run (`-ql --format none`, no media) comes first, and a script that
fails there is repaired before the full render is paid for."""

from __future__ import annotations

import pytest

from manimagent.render.base import OutputFormat, Quality, RenderFailure, RenderRequest, RenderResult
from manimagent.render.staged import PREFLIGHT_NOTE, StagedRender

CODE = "from manim import *\nclass A(Scene):\n    def construct(self):\n        self.play(Create(Circle()))\n"
LATE_FAILURE = (
    "from manim import *\n"
    "class Late(Scene):\n"
    "    def construct(self):\n"
    "        circle = Circle()\n"
    "        self.play(Create(circle), run_time=2)\n"
    "        self.play(Transform(circle, Square()), run_time=2)\n"
    "        self.play(FadeOut(circle.no_such_part))\n"
)


class RecordingEngine:
    """Records each request; fails the dry run when `fail_dry_run`."""

    name = "fake"
    has_latex = True

    def __init__(self, fail_dry_run: bool = False):
        self.fail_dry_run = fail_dry_run
        self.requests: list[RenderRequest] = []

    def render(self, request, staging, on_progress=None):
        self.requests.append(request)
        if request.dry_run and self.fail_dry_run:
            return RenderResult(
                ok=False,
                log="Traceback\nAttributeError: no\n",
                failure=RenderFailure("AttributeError", "no", 4),
                duration=0.5,
            )
        if request.dry_run:
            return RenderResult(ok=True, log="dry\n", duration=0.5)
        staging.mkdir(parents=True, exist_ok=True)
        out = staging / f"{request.scenes[0]}.mp4"
        out.write_bytes(b"video")
        return RenderResult(ok=True, outputs=[out], log="full\n", duration=2.0)


def _request(quality: Quality) -> RenderRequest:
    return RenderRequest(code=CODE, scenes=["A"], quality=quality, format=OutputFormat.AUTO)


def test_above_low_a_dry_run_at_low_quality_comes_first(tmp_path):
    engine = RecordingEngine()
    job = StagedRender(engine, _request(Quality.HIGH), tmp_path)
    result = job.wait()
    assert result.ok and [(r.dry_run, r.quality) for r in engine.requests] == [
        (True, Quality.LOW),
        (False, Quality.HIGH),
    ]
    assert result.duration == 2.5 and result.log == "dry\nfull\n"
    kept = job.keep_as(tmp_path / "kept", result)
    assert [path.name for path in kept.outputs] == ["A.mp4"] and kept.outputs[0].exists()


def test_a_failing_dry_run_skips_the_full_render(tmp_path):
    engine = RecordingEngine(fail_dry_run=True)
    result = StagedRender(engine, _request(Quality.PRODUCTION), tmp_path).wait()
    assert not result.ok and result.failure.error_type == "AttributeError" and result.failure.line == 4
    assert [r.dry_run for r in engine.requests] == [True]
    assert result.log.startswith(PREFLIGHT_NOTE.format(quality="-qp"))


def test_low_quality_has_no_preflight(tmp_path):
    engine = RecordingEngine()
    assert StagedRender(engine, _request(Quality.LOW), tmp_path).wait().ok
    assert [r.dry_run for r in engine.requests] == [False]


@pytest.mark.slow
def test_a_failing_medium_render_is_caught_by_the_preflight(cli, tmp_path):
    file = tmp_path / "late.py"
    file.write_text(LATE_FAILURE)
    doc = cli("render", str(file), "--quality", "medium", "--json").json()
    assert doc["success"] is False and "no_such_part" in doc["error"] and "line 7" in doc["error"]
    shown = cli("executions", "show", doc["execution_id"], "--log", "--json").json()
    assert shown["log"].startswith("manimagent: preflight") and shown["quality"] == "medium"
    assert "720p30" not in shown["log"]  # nothing was rendered at the asked-for quality


@pytest.mark.slow
def test_a_medium_render_that_passes_the_preflight_has_its_quality(cli):
    import av

    from conftest import EXAMPLES

    doc = cli("render", str(EXAMPLES / "circle.py"), "--quality", "medium", "--json").json()
    assert doc["success"], doc
    with av.open(doc["output_path"]) as video:
        stream = video.streams.video[0]
        assert (stream.width, stream.height) == (1280, 720)
