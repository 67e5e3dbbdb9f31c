"""`manimagent watch FILE`: a real watch process, driven by saving the file from the test, with real
renders."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import ROOT, assert_one_line_error, run_cli_process, video_duration

SCENE = """from manim import *


class Watched(Scene):
    def construct(self):
        self.play(Create({shape}), run_time=0.5)
"""
BROKEN = SCENE.replace("run_time=0.5)", "run_time=0.5)\n        1 / 0")  # line 7 raises while rendering


class WatchProcess:
    """`manimagent watch` in a child process; its stdout and stderr lines arrive on queues."""

    def __init__(self, *args: str, env: dict[str, str] | None = None, replace_env: bool = False):
        base = dict(env or {}) if replace_env else {**os.environ, **(env or {})}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "manimagent", "watch", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**base, "MANIMAGENT_RENDER_CACHE": "1"},
            cwd=ROOT,
            text=True,
        )
        self.lines: queue.Queue[tuple[str, float, str]] = queue.Queue()
        self.render_times: queue.Queue[float] = queue.Queue()
        self.stderr: list[str] = []
        for name, stream in (("out", self.process.stdout), ("err", self.process.stderr)):
            threading.Thread(target=self._pump, args=(name, stream), daemon=True).start()

    def _pump(self, name: str, stream) -> None:
        for line in stream:
            if name == "err":
                self.stderr.append(line)
            if match := re.match(r"rendered in ([\d.]+) s", line):
                self.render_times.put(float(match.group(1)))
            self.lines.put((name, time.monotonic(), line.rstrip("\n")))

    def next_result(self, timeout: float = 180) -> tuple[str, float, str]:
        """The next result line: a video path (stdout), `unchanged`, or an `Error:` line."""
        deadline = time.monotonic() + timeout
        while True:
            name, at, line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            if name == "out" or line.startswith(("unchanged", "Error:")):
                return name, at, line

    def rendered_in(self, timeout: float = 30) -> float:
        """The `rendered in X s` line that follows a video path: the render's own time."""
        return self.render_times.get(timeout=timeout)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=60)


def _save(path: Path, text: str) -> float:
    path.write_text(text)
    return time.monotonic()


def _executions(cli) -> list[dict]:
    return cli("executions", "list", "--json").json()


@pytest.mark.slow
def test_watch_renders_each_save_says_why_one_failed_and_renders_nothing_for_an_unchanged_one(tmp_path, cli):
    scene = tmp_path / "watched.py"
    scene.write_text(SCENE.format(shape="Circle()"))
    watch = WatchProcess(str(scene))
    try:
        kind, _at, first = watch.next_result()
        assert kind == "out" and first.endswith("Watched.mp4"), (first, watch.stderr)
        watch.rendered_in()

        saved = _save(scene, SCENE.format(shape="Square()"))  # a good save
        kind, shown, second = watch.next_result()
        assert kind == "out" and second != first and video_duration(second) > 0.3, watch.stderr
        latency = shown - saved - watch.rendered_in()
        assert latency < 1.0, f"the result came {latency:.2f} s after the render's own time"

        count = len(_executions(cli))
        _save(scene, SCENE.format(shape="Square()"))  # the same bytes again
        assert watch.next_result()[2] == "unchanged: nothing rendered"
        assert len(_executions(cli)) == count, "an unchanged save started a render"

        _save(scene, BROKEN.format(shape="Square()"))  # a broken save
        kind, _at, error = watch.next_result()
        assert (
            kind == "err"
            and "ZeroDivisionError" in error
            and "script line 7" in error
            and "still watching" in error
        ), error

        _save(scene, SCENE.format(shape="Triangle()"))  # the fix
        kind, _at, fixed = watch.next_result()
        assert kind == "out" and fixed.endswith("Watched.mp4") and Path(fixed).is_file(), watch.stderr
        watch.rendered_in()

        _save(scene, SCENE.format(shape="Circle()"))  # back to the first version: the render cache answers
        kind, _at, again = watch.next_result()
        assert kind == "out", watch.stderr
        newest = _executions(cli)[0]
        assert newest["status"] == "cached", newest
    finally:
        code = watch.stop()
    assert code == 130, watch.stderr
    stderr = "".join(watch.stderr)
    assert "Traceback" not in stderr and "interrupted" in stderr
    # first, square, broken, triangle and the cached one (answered without manim): the unchanged
    # save started none
    assert stderr.count("Rendering Watched") == 5, stderr


@pytest.mark.slow
def test_a_syntax_error_on_save_is_one_line_and_watching_goes_on(tmp_path):
    scene = tmp_path / "watched.py"
    scene.write_text(SCENE.format(shape="Circle()").replace("Create(", "Create(("))
    watch = WatchProcess(str(scene))
    try:
        kind, _at, error = watch.next_result()
        assert kind == "err" and "syntax error at line 6" in error, error
        scene.write_text(SCENE.format(shape="Circle()"))
        kind, _at, path = watch.next_result()
        assert kind == "out" and path.endswith("Watched.mp4"), watch.stderr
    finally:
        assert watch.stop() == 130


def test_watching_a_missing_file_is_a_one_line_error(tmp_path):
    assert_one_line_error(run_cli_process("watch", str(tmp_path / "nope.py")), 2)


@pytest.mark.slow
def test_open_opens_the_first_video_once_with_the_systems_opener(tmp_path):
    bin_dir, opened = tmp_path / "bin", tmp_path / "opened.txt"
    bin_dir.mkdir()
    opener = bin_dir / "xdg-open"
    opener.write_text(f'#!/bin/sh\necho "$1" >> {opened}\n')
    opener.chmod(0o755)
    scene = tmp_path / "watched.py"
    scene.write_text(SCENE.format(shape="Circle()"))
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "DISPLAY": ":99"}
    watch = WatchProcess(str(scene), "--open", env=env)
    try:
        _kind, _at, first = watch.next_result()
        scene.write_text(SCENE.format(shape="Square()"))
        _kind, _at, second = watch.next_result()
        assert first.endswith(".mp4") and second.endswith(".mp4") and first != second, watch.stderr
    finally:
        assert watch.stop() == 130
    assert opened.read_text().splitlines() == [first], "the video was not opened exactly once"


@pytest.mark.slow
def test_open_without_a_display_says_so_and_goes_on_watching(tmp_path):
    scene = tmp_path / "watched.py"
    scene.write_text(SCENE.format(shape="Circle()"))
    env = {key: value for key, value in os.environ.items() if key not in ("DISPLAY", "WAYLAND_DISPLAY")}
    watch = WatchProcess(str(scene), "--open", env=env, replace_env=True)
    try:
        kind, _at, first = watch.next_result()
        assert kind == "out", watch.stderr
        deadline = time.monotonic() + 30
        while "no display" not in "".join(watch.stderr) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "no display" in "".join(watch.stderr) and "DISPLAY" in "".join(watch.stderr)
    finally:
        assert watch.stop() == 130


def test_a_bad_option_stops_watch_before_it_starts(tmp_path):
    scene = tmp_path / "watched.py"
    scene.write_text(SCENE.format(shape="Circle()"))
    assert_one_line_error(run_cli_process("watch", str(scene), "--engine", "teleport"), 2)
