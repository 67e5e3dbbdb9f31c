"""Still scenes and the preflight with the docker engine: the same collection and stages as the
local engine (a real Docker engine and the render image; skipped cleanly without them)."""

from __future__ import annotations

import pytest

from conftest import video_duration
from manimagent.render.base import OutputFormat, Quality, RenderRequest
from manimagent.render.staged import PREFLIGHT_NOTE, StagedRender
from test_docker import docker_client, fresh_engine, render_image, warm, warm_engine  # noqa: F401 - fixtures

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1800)]

MIXED = (
    "from manim import *\n"
    "class Title(Scene):\n    def construct(self):\n        self.add(Text('title'))\n"
    "class Grow(Scene):\n    def construct(self):\n        self.play(Create(Circle()), run_time=0.5)\n"
)
FAILS = (
    "from manim import *\nclass Bad(Scene):\n    def construct(self):\n"
    "        self.play(Create(Circle()))\n        self.add(Circle().missing)\n"
)


def _render(
    engine, tmp_path, code: str, fmt: OutputFormat, quality: Quality = Quality.LOW, scenes=("Title", "Grow")
):
    request = RenderRequest(code=code, scenes=list(scenes), quality=quality, format=fmt, timeout=180)
    job = StagedRender(engine, request, tmp_path / "staging", still_seconds=1.5)
    return job.wait()


def test_docker_still_scene_is_a_png_without_format(warm_engine, tmp_path):  # noqa: F811
    result = _render(warm_engine, tmp_path, MIXED, OutputFormat.AUTO)
    assert result.ok, result.log[-2000:]
    assert [path.name for path in result.outputs] == ["Title.png", "Grow.mp4"] and result.still_scenes == [
        "Title"
    ]


def test_docker_still_scene_is_a_still_video_with_explicit_mp4(fresh_engine, tmp_path):  # noqa: F811
    result = _render(fresh_engine, tmp_path, MIXED, OutputFormat.MP4)
    assert result.ok, result.log[-2000:]
    assert [path.name for path in result.outputs] == ["Title.mp4", "Grow.mp4"] and result.still_scenes == [
        "Title"
    ]
    assert abs(video_duration(result.outputs[0]) - 1.5) < 0.2


def test_docker_preflight_catches_a_failure_before_the_full_render(warm_engine, tmp_path):  # noqa: F811
    result = _render(warm_engine, tmp_path, FAILS, OutputFormat.AUTO, Quality.MEDIUM, scenes=("Bad",))
    assert not result.ok and result.failure.error_type == "AttributeError" and result.failure.line == 5
    assert result.log.startswith(PREFLIGHT_NOTE.format(quality="-qm"))
