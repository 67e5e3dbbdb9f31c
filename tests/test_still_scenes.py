"""Still scenes (no play calls) as manim renders them: a PNG with no --format, a still video of
--still-seconds with an explicit video format; mixed files; the per-output kind. Real renders."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from conftest import video_duration
from manimagent.render.base import OutputFormat, Quality, RenderRequest, find_outputs, manim_arguments
from manimagent.render.docker import extract_outputs, fetch_outputs

STILL = (
    "from manim import *\nclass Card(Scene):\n    def construct(self):\n"
    "        self.add(Text('still', color=YELLOW), Square())\n"
)
MIXED = (
    "from manim import *\n"
    "class Title(Scene):\n    def construct(self):\n        self.add(Text('title'))\n"
    "class Grow(Scene):\n    def construct(self):\n        self.play(Create(Circle()), run_time=1)\n"
    "class Shapes(Scene):\n    def construct(self):\n"
    "        self.add(Square(), Triangle().shift(RIGHT * 2))\n"
)


def _write(tmp_path: Path, code: str, name: str = "scene_file.py") -> str:
    path = tmp_path / name
    path.write_text(code)
    return str(path)


def _kinds(doc: dict) -> list[tuple[str, str]]:
    return [(item["scene"], item["kind"]) for item in doc["scene_outputs"]]


# --- the command line manim gets, and what is collected (both engines) ------------------------


def _request(fmt: OutputFormat, **extra) -> RenderRequest:
    return RenderRequest(code="", scenes=["A", "B"], quality=Quality.LOW, format=fmt, **extra)


def test_manim_is_asked_for_a_format_only_when_it_cannot_fall_back_to_a_still():
    assert "--format" not in manim_arguments(_request(OutputFormat.AUTO))
    assert "--format" not in manim_arguments(
        _request(OutputFormat.MP4)
    )  # manim's default is mp4 with the PNG fallback
    assert "--format gif scene.py" in " ".join(manim_arguments(_request(OutputFormat.GIF)))
    assert "--save_last_frame" in manim_arguments(_request(OutputFormat.PNG))
    assert "--format none scene.py" in " ".join(manim_arguments(_request(OutputFormat.MP4, dry_run=True)))


def test_outputs_are_a_video_or_a_still_scenes_png_per_scene(tmp_path):
    media = tmp_path / "media"
    (media / "videos" / "scene" / "480p15").mkdir(parents=True)
    (media / "images" / "scene").mkdir(parents=True)
    (media / "videos" / "scene" / "480p15" / "A.mp4").write_bytes(b"v")
    (media / "images" / "scene" / "A_ManimCE_v0.22.0.png").write_bytes(b"p")  # beside a video: not the output
    (media / "images" / "scene" / "B.png").write_bytes(b"p")
    found = find_outputs(media, _request(OutputFormat.AUTO))
    assert [path.name for path in found] == ["A.mp4", "B.png"]
    assert find_outputs(media, _request(OutputFormat.GIF)) is None  # manim never gives a gif request a PNG
    assert find_outputs(media, _request(OutputFormat.MP4, dry_run=True)) == []


def _tar(files: dict[str, bytes]) -> list[bytes]:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return [buffer.getvalue()]


def test_docker_fetches_a_still_scenes_png_and_nothing_for_a_dry_run(tmp_path):
    chunks = _tar(
        {
            "media/videos/scene/480p15/A.mp4": b"v",
            "media/images/scene/B.png": b"p",
            "media/videos/x/partial_movie_files/A/u.mp4": b"x",
        }
    )
    extract_outputs(chunks, tmp_path / "job", OutputFormat.AUTO.suffixes)
    assert sorted(str(path.relative_to(tmp_path / "job")) for path in (tmp_path / "job").rglob("*.*")) == [
        "media/images/scene/B.png",
        "media/videos/scene/480p15/A.mp4",
    ]
    gif_only = tmp_path / "gif"
    extract_outputs(_tar({"media/images/scene/B.png": b"p"}), gif_only, OutputFormat.GIF.suffixes)
    assert not gif_only.exists()
    dry = RenderRequest(code="", scenes=["A"], dry_run=True)
    assert fetch_outputs(object(), "token", dry, tmp_path / "staging") == []  # no archive asked for


# --- real renders -----------------------------------------------------------------------------

pytest_slow = pytest.mark.slow


@pytest_slow
def test_a_still_scene_without_format_is_a_png_like_manim(cli, tmp_path):
    doc = cli("render", _write(tmp_path, STILL), "--json").json()
    assert doc["success"], doc
    assert doc["output_path"].endswith("Card.png") and doc["outputs"] == [doc["output_path"]]
    assert _kinds(doc) == [("Card", "image")]
    data = Path(doc["output_path"]).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    shown = cli("executions", "show", doc["execution_id"], "--json").json()
    assert shown["format"] == "auto" and shown["outputs"] == doc["outputs"]


@pytest_slow
def test_a_still_scene_with_explicit_mp4_is_a_still_video_of_still_seconds(cli, tmp_path):
    doc = cli("render", _write(tmp_path, STILL), "--format", "mp4", "--still-seconds", "2", "--json").json()
    assert doc["success"], doc
    assert doc["output_path"].endswith("Card.mp4") and _kinds(doc) == [("Card", "still-video")]
    assert abs(video_duration(doc["output_path"]) - 2.0) < 0.2
    default = cli("render", _write(tmp_path, STILL), "--format", "mp4", "--json").json()
    assert abs(video_duration(default["output_path"]) - 1.0) < 0.2


@pytest_slow
def test_mixed_file_without_format_gives_the_video_and_the_images(cli, tmp_path):
    doc = cli("render", _write(tmp_path, MIXED), "--json").json()
    assert doc["success"], doc
    assert _kinds(doc) == [("Title", "image"), ("Grow", "video"), ("Shapes", "image")]
    assert [Path(path).name for path in doc["outputs"]] == ["Title.png", "Grow.mp4", "Shapes.png"]
    assert doc["output_path"].endswith("Grow.mp4")  # the joined video holds only the videos: here one


@pytest_slow
def test_mixed_file_with_explicit_mp4_joins_still_and_animated_scenes(cli, tmp_path):
    doc = cli("render", _write(tmp_path, MIXED), "--format", "mp4", "--still-seconds", "1.5", "--json").json()
    assert doc["success"], doc
    assert _kinds(doc) == [("Title", "still-video"), ("Grow", "video"), ("Shapes", "still-video")]
    assert doc["output_path"].endswith("all_scenes.mp4")
    assert abs(video_duration(doc["output_path"]) - (1.5 + 1.0 + 1.5)) < 0.3


@pytest_slow
def test_explicit_gif_renders_still_scenes_as_still_gifs(cli, tmp_path):
    doc = cli("render", _write(tmp_path, MIXED), "--format", "gif", "--json").json()
    assert doc["success"], doc
    assert _kinds(doc) == [("Title", "still-video"), ("Grow", "video"), ("Shapes", "still-video")]
    assert [Path(path).suffix for path in doc["outputs"]] == [".gif"] * 3
    assert abs(video_duration(doc["output_path"]) - 3.0) < 0.4
    log = cli("executions", "show", doc["execution_id"], "--log", "--json").json()["log"]
    assert "has no play calls" in log  # manim refused the gif for the still scene, which was rendered again


@pytest_slow
def test_still_seconds_out_of_range_is_bad_input(cli, tmp_path):
    result = cli("render", _write(tmp_path, STILL), "--format", "mp4", "--still-seconds", "0")
    assert result.code == 2 and "Traceback" not in result.stderr
