"""What a finished render child leaves behind, read the same way by the local engine and the
warm pool: its result from the exit and the job folder, the finished scenes moved into staging,
and the one warning a process when renders run unsandboxed."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from manimagent.events import Notice
from manimagent.render.base import (
    ProgressSink,
    RenderFailure,
    RenderRequest,
    RenderResult,
    find_outputs,
    missing_output_failure,
    timeout_failure,
)
from manimagent.render.logparse import parse_failure
from manimagent.render.process import ProcessResult
from manimagent.render.sandbox import Containment

_warned: set[str] = set()  # one warning a process for each reason the sandbox is missing


def warn_uncontained(containment: Containment, on_progress: ProgressSink | None) -> None:
    """One warning line a process for each reason renders are not sandboxed (`auto`'s fallback)."""
    reason = containment.reason
    if containment.sandboxed or reason is None or reason in _warned or on_progress is None:
        return
    _warned.add(reason)
    on_progress(
        Notice(
            message=(
                f"warning: renders are not sandboxed ({reason}); only resource limits contain them."
                f" Fix: {containment.fix}"
            )
        )
    )


def collect(request: RenderRequest, job: Path, staging: Path, done: ProcessResult) -> RenderResult:
    log, duration = done.output, done.duration
    if done.over_quota:
        return RenderResult(ok=False, log=log, failure=output_limit_failure(), duration=duration)
    if done.timed_out:
        return RenderResult(ok=False, log=log, failure=timeout_failure(request.timeout), duration=duration)
    if done.returncode != 0:  # the scenes that finished before the failure are kept
        partial = stage_pairs(finished_scenes(job / "media", request), staging)
        return RenderResult(ok=False, log=log, failure=parse_failure(log), duration=duration, partial=partial)
    found = find_outputs(job / "media", request)
    if found is None:
        return RenderResult(ok=False, log=log, failure=missing_output_failure(), duration=duration)
    return RenderResult(ok=True, outputs=stage_outputs(found, request, staging), log=log, duration=duration)


def output_limit_failure() -> RenderFailure:
    return RenderFailure(
        "OutputLimitError",
        "the render wrote more than render.max_output to its job folder and was killed",
        killed="output",
    )


def finished_scenes(media: Path, request: RenderRequest) -> list[tuple[str, Path]]:
    """(scene, file) of the scenes that completed (manim writes a scene's file at its end)."""
    if request.dry_run or not media.is_dir():
        return []
    found = []
    for scene in request.scenes:
        outputs = find_outputs(media, replace(request, scenes=[scene]))
        if outputs:
            found.append((scene, outputs[0]))
    return found


def stage_outputs(found: list[Path], request: RenderRequest, staging: Path) -> list[Path]:
    """Move each scene's finished file into `staging` as `<Scene>.<ext>` (its own extension:
    a still scene's PNG stays a PNG). A dry run (preflight) has none."""
    if request.dry_run:
        return []
    return stage_pairs(list(zip(request.scenes, found, strict=True)), staging)


def stage_pairs(pairs: list[tuple[str, Path]], staging: Path) -> list[Path]:
    staging.mkdir(parents=True, exist_ok=True)
    staged = []
    for scene, path in pairs:
        target = staging / f"{scene}{path.suffix}"
        shutil.move(str(path), target)
        staged.append(target)
    return staged
