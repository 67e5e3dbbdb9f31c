"""One attempt's renders, engine-agnostic: a preflight dry run above -ql, the render itself, and
the still scenes' outputs.

- Preflight: above `-ql`, manim first runs every scene at `-ql --format none` (nothing encoded,
  no media written); a script that fails is repaired before the full render is paid for.
- Still scenes (no `play`/`wait` call): manim's own default gives them a PNG. With AUTO that PNG is
  the output. With an explicit video format, it becomes a still video of `still_seconds`
  (`render/combine.still_video`). manim refuses an explicit gif/webm/mov for a still scene; such
  scenes are rendered again as PNGs and the others again in the format asked for.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from dataclasses import replace
from pathlib import Path

from manimagent.render.base import (
    DEFAULT_STILL_SECONDS,
    FRAME_RATES,
    OutputFormat,
    ProgressSink,
    Quality,
    RenderEngine,
    RenderRequest,
    RenderResult,
)
from manimagent.render.job import RenderJob

# manim's refusal of an explicit video format for a scene that played nothing (manager.py)
_NO_PLAY_CALLS = re.compile(r"^(?P<scene>[A-Za-z_]\w*) has no play calls, so the explicitly requested")
PREFLIGHT_NOTE = (
    "manimagent: preflight (-ql --format none, no media written) failed,"
    " so the {quality} render was not started\n"
)


def needs_preflight(request: RenderRequest) -> bool:
    """A dry run pays off above -ql: it renders no media and costs a fraction of the full render."""
    return request.quality is not Quality.LOW and not request.dry_run


def preflight_request(request: RenderRequest) -> RenderRequest:
    """The dry run: low quality, no media, no layout check (the full render does that)."""
    return replace(request, quality=Quality.LOW, dry_run=True, layout=False)


class StagedRender:
    """The renders of one attempt as one job (the interface of `RenderJob`); started at once."""

    def __init__(
        self,
        engine: RenderEngine,
        request: RenderRequest,
        staging_root: Path,
        on_progress: ProgressSink | None = None,
        *,
        still_seconds: float = DEFAULT_STILL_SECONDS,
        preflight: bool | None = None,
        folder: Path | None = None,
    ):
        """`folder`: where every job of the attempt leaves its files, the attempt's final place (the
        pipeline gives `media/<script>/<execution>`: a file moves once, from the render's job folder
        to there); None: each job its own `job-*` folder under `staging_root`."""
        self.folder = folder
        self.engine = engine
        self.request = request
        self.staging_root = staging_root
        self.on_progress = on_progress
        self.still_seconds = still_seconds
        self.staging = staging_root / f"job-{uuid.uuid4().hex}"
        self.preflight = needs_preflight(request) if preflight is None else preflight
        first = preflight_request(request) if self.preflight else request
        self.kept: list[RenderJob] = []  # finished jobs whose files are the attempt's outputs
        self.current: RenderJob | None = self._start(first, progress=not self.preflight)
        self.logs: list[str] = []
        self.duration = 0.0

    def _start(self, request: RenderRequest, *, progress: bool = True) -> RenderJob:
        self.current = RenderJob(
            self.engine,
            request,
            self.staging_root,
            self.on_progress if progress else None,
            folder=self.folder,
        )
        return self.current

    def _run(self, request: RenderRequest | None = None) -> RenderResult:
        """Wait for the current job (or start one for `request`), keeping its log and time."""
        job = self.current if request is None else self._start(request)
        assert job is not None
        result = job.wait()
        self.logs.append(result.log)
        self.duration += result.duration
        return result

    def wait(self) -> RenderResult:
        if self.preflight:
            checked = self._run()
            self._discard_current()
            if not checked.ok:
                checked.log = PREFLIGHT_NOTE.format(quality=self.request.quality.flag) + checked.log
                return checked
            self._start(self.request)
        result = self._run()
        if not result.ok and self.request.format.is_video:
            result = self._split_stills(result)
        if not result.ok:
            if result.partial:  # the scenes that finished stay with the attempt
                self._take(result)
            self._discard_current()
            return self._finished(result)
        self._take(result)
        return self._finished(self._with_still_videos(result))

    def _split_stills(self, result: RenderResult) -> RenderResult:
        """manim refused a gif/webm/mov for a still scene: render those as PNGs, the rest as asked."""
        stills: list[str] = []
        while not result.ok and (scene := _still_scene(result)) and scene not in stills:
            self._discard_current()
            stills.append(scene)
            animated = [name for name in self.request.scenes if name not in stills]
            result = self._run(replace(self.request, scenes=animated)) if animated else RenderResult(ok=True)
        if not stills or not result.ok:
            return result
        self._take(result)
        images = self._run(replace(self.request, scenes=stills, format=OutputFormat.PNG))
        if not images.ok:
            return images
        self._take(images)
        by_scene = {path.stem: path for path in [*result.outputs, *images.outputs]}
        return RenderResult(
            ok=True,
            outputs=[by_scene[name] for name in self.request.scenes],
            layout=[*result.layout, *images.layout],
        )

    def _take(self, result: RenderResult) -> None:
        """A finished job's files are outputs of this attempt: they stay in its job folder until the
        attempt is kept (`keep_as` moves each once) or discarded."""
        if self.current is not None:
            self.kept.append(self.current)
            self.current = None

    def _with_still_videos(self, result: RenderResult) -> RenderResult:
        """Name the still scenes (their output began as a PNG); with an explicit video format,
        their PNGs become still videos."""
        if self.request.format is OutputFormat.PNG:
            return result
        pngs = {path.stem for path in result.outputs if path.suffix == ".png"}
        result.still_scenes = [name for name in self.request.scenes if name in pngs]
        if self.request.format is OutputFormat.AUTO:
            return result
        from manimagent.render.combine import still_video

        fps = FRAME_RATES[self.request.quality.value]
        outputs = []
        for path in result.outputs:
            if path.suffix == ".png":  # encoded aside, so a file beside the outputs is always complete
                video = path.with_suffix(f".{self.request.format.value}")
                self.staging.mkdir(parents=True, exist_ok=True)
                made = still_video(path, self.staging / video.name, seconds=self.still_seconds, fps=fps)
                os.replace(made, video)
                path.unlink()
                path = video
            outputs.append(path)
        result.outputs = outputs
        return result

    def _finished(self, result: RenderResult) -> RenderResult:
        result.log = "".join(self.logs) if len(self.logs) > 1 else result.log
        result.duration = self.duration
        return result

    def _discard_current(self) -> None:
        if self.current is not None:
            self.current.discard()
            self.current = None

    def cancel(self) -> None:
        if self.current is not None:
            self.current.cancel()
        self.discard()

    def discard(self) -> None:
        self._discard_current()
        for job in self.kept:
            job.discard()
        self.kept = []
        shutil.rmtree(self.staging, ignore_errors=True)
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            _remove_if_empty(self.folder.parent)

    def keep_as(self, folder: Path, result: RenderResult) -> RenderResult:
        """Keep the result's files in `folder`, each moved there once (from its job's folder, or
        from `staging`); the attempt's other files go. A folder there from before is replaced,
        unless it is the attempt's own (`folder`), where the jobs left their files already."""
        own = folder == self.folder
        if folder.exists() and not own:
            shutil.rmtree(folder)
        folder.mkdir(parents=True, exist_ok=True)
        moved = []
        for path in result.outputs:
            target = folder / path.name
            if path != target:
                os.replace(path, target)
            moved.append(target)
        if own:  # the jobs' files not kept (a failed attempt's other scenes) go
            for path in set(folder.iterdir()) - set(moved):
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink()
            self.kept, self.current, self.folder = [], None, None
        self.discard()
        result.outputs = moved
        return result


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:  # not empty (another execution's files), or gone
        pass


def _still_scene(result: RenderResult) -> str | None:
    """The scene manim refused an explicit video format for (it plays nothing), if that is the failure."""
    if result.failure is None or result.failure.error_type != "RuntimeError":
        return None
    match = _NO_PLAY_CALLS.match(result.failure.message)
    return match["scene"] if match else None
