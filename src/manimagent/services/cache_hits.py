"""`render FILE` answered whole by the render cache, stored without the render loop or the ORM.

When every scene of a file is in the render cache, the pipeline would start no render: its attempt
links the cached files into media, joins them, makes a poster and writes a Script and a `cached`
Execution. `find_cached` tells such a render apart (the same preparation, request and cache keys
as the pipeline's, `attempt.prepare`/`render_request` and `CachingEngine.complete_hit`), and
`store_cached` writes what the pipeline would (store/fast_cached.py, the standard library's
sqlite3): the video hard-linked, the source execution's joined video and poster linked where they
are the same, the same columns, the same result document.

It applies to the local SQLite store at the current schema only; anything else, or any error,
leaves it to the normal path, with nothing written (`FastPathUnavailable`).
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from manimagent.attempt import (
    BEFORE_RENDER,
    JOINED_STEM,
    RenderOptions,
    all_scenes,
    media_folder,
    new_id,
    prepare,
    prepared_events,
    render_request,
    scene_outputs,
)
from manimagent.context import Context
from manimagent.events import Done, Event, RenderStarted
from manimagent.render.base import OutputFormat
from manimagent.render.cache import ALL_CACHED_LOG, UNKNOWN_SOURCE, CacheEntry, link_or_copy, source_of
from manimagent.scriptcheck.prepare import Prepared
from manimagent.store import fast_cached
from manimagent.store.transitions import ABANDON_GRACE, ExecutionStatus, ScriptStatus

if TYPE_CHECKING:
    import sqlite3


class FastPathUnavailable(Exception):
    """This render is not stored here (not a whole hit, not the local store, a file it cannot make)."""


@dataclass
class CachedRender:
    """A file every scene of which the render cache holds, decided before anything is written."""

    path: str
    code: str
    prepared: Prepared
    plan: RenderOptions
    entries: list[CacheEntry]  # one per scene, in scene order
    stills: list[str]  # scenes whose output is a still's PNG (StagedRender._with_still_videos)
    script_id: str = field(default_factory=new_id)
    execution_id: str = field(default_factory=new_id)

    @property
    def cached_from(self) -> str:
        return source_of(self.entries)


def file_prompt(path: str) -> str:
    """The prompt of a script imported by `render FILE`."""
    return f"rendered from {Path(path).name}"


def applies(ctx: Context) -> bool:
    """Whether renders of this context can be stored here: the local CLI on a SQLite file."""
    return ctx.media_sink is None and fast_cached.sqlite_file(ctx.settings.database_url_effective) is not None


def find_cached(ctx: Context, *, path: str, code: str, plan: RenderOptions) -> CachedRender | None:
    """The render of `code` when the cache holds every scene of it, else None. Raises what preparing
    the code raises (InvalidScript), exactly as the pipeline's first attempt would."""
    complete_hit = getattr(plan.engine, "complete_hit", None)
    if complete_hit is None or getattr(plan.engine, "cache", None) is None or not applies(ctx):
        return None  # no render cache (--no-cache): nothing to find
    prepared = prepare(ctx, code, plan, strict=True)
    if prepared.refusal is not None:
        return None
    entries = complete_hit(render_request(ctx, prepared, plan))
    if entries is None:
        return None
    stills = _stills(plan.format, list(entries.items()))
    if stills is None:
        return None
    return CachedRender(path, code, prepared, plan, list(entries.values()), stills)


def _stills(format: OutputFormat, entries: list[tuple[str, CacheEntry]]) -> list[str] | None:
    """The still scenes (a PNG in the cache), as StagedRender names them; None when a render would
    change their files (an explicit video format makes a still's PNG a video)."""
    if format is OutputFormat.PNG:
        return []
    stills = [scene for scene, entry in entries if entry.file.suffix == ".png"]
    return stills if not stills or format is OutputFormat.AUTO else None


# --- storing -------------------------------------------------------------------------------------


@dataclass
class _Published:
    outputs: list[Path]
    output_path: Path
    poster: Path | None
    started: datetime
    completed: datetime


def store_cached(ctx: Context, renders: list[CachedRender]) -> list[dict[str, Any]]:
    """Publish and store every render (its files in media, its rows in one transaction, all or
    none); each one's result document (ExecuteResult's fields). FastPathUnavailable when nothing
    could be stored here; the caller then renders them the normal way."""
    url = ctx.settings.database_url_effective
    folders: list[Path] = []
    committed = False
    try:
        with fast_cached.connect(url) as conn:
            published = []
            for render in renders:
                folders.append(media_folder(ctx, render.script_id, render.execution_id))
                published.append(_publish(ctx, conn, render, folders[-1]))
            rows = [_rows(ctx, render, done) for render, done in zip(renders, published, strict=True)]
            fast_cached.write_rows(conn, [row[0] for row in rows], [row[1] for row in rows])
            committed = True
    except BaseException as exc:
        if committed:  # the rows are stored (closing the connection failed): their files stay
            raise
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
            _remove_if_empty(folder.parent)
        if isinstance(exc, Exception):
            raise FastPathUnavailable(f"{type(exc).__name__}: {exc}") from exc
        raise
    return [_document(render, done) for render, done in zip(renders, published, strict=True)]


def cached_events(render: CachedRender, document: dict[str, Any]) -> list[Event]:
    """The events the pipeline emits for such a render: its fixes and findings, the start, the end."""
    return [
        *prepared_events(render.prepared),
        RenderStarted(
            attempt=1,
            max_attempts=render.plan.max_attempts,
            engine=render.plan.engine.name,
            scenes=render.prepared.scenes,
            execution_id=render.execution_id,
        ),
        Done(success=True, output_path=document["output_path"]),
    ]


def _publish(ctx: Context, conn: sqlite3.Connection, render: CachedRender, folder: Path) -> _Published:
    """The files in `media/<script>/<execution>`: each scene a hard link of its cache entry, their
    join and the poster linked from the source execution where they are its own, else made."""
    from manimagent.render.poster import make_poster, reuse_poster

    started = datetime.now(UTC)
    folder.mkdir(parents=True, exist_ok=True)
    outputs = []
    for entry in render.entries:
        link_or_copy(entry.file, folder / entry.file.name)
        outputs.append(folder / entry.file.name)
    source = (
        None
        if render.cached_from == UNKNOWN_SOURCE
        else fast_cached.execution_output(conn, render.cached_from)
    )
    output_path = _joined(ctx, render, outputs, folder, source)
    poster = reuse_poster(output_path, source[0] if source else None) or make_poster(output_path)
    return _Published(outputs, output_path, poster, started, datetime.now(UTC))


def _joined(
    ctx: Context,
    render: CachedRender,
    outputs: list[Path],
    folder: Path,
    source: tuple[str | None, list[str]] | None,
) -> Path:
    """The video shown: the videos joined when there are several (the source's join, linked, when it
    joined exactly these renders), else the one video, else the first image (pipeline._publish)."""
    videos = [path for path in outputs if path.suffix != ".png"]
    if len(videos) < 2:
        return (videos or outputs)[0]
    target = folder / f"{JOINED_STEM}{videos[0].suffix}"
    if _same_join(render, outputs, source, target.name):
        assert source is not None and source[0] is not None
        link_or_copy(Path(source[0]), target)
        return target
    from manimagent.render.combine import combine_videos

    aside = ctx.settings.paths.staging / f"job-{uuid.uuid4().hex}"
    aside.mkdir(parents=True, exist_ok=True)
    try:
        made = combine_videos(videos, aside / target.name, reencode=bool(render.stills))
        os.replace(made, target)
    finally:
        shutil.rmtree(aside, ignore_errors=True)
    return target


def _same_join(
    render: CachedRender, outputs: list[Path], source: tuple[str | None, list[str]] | None, name: str
) -> bool:
    """Whether the source execution rendered every one of these scenes and kept exactly them: its
    join is then this render's, byte for byte."""
    if source is None or not source[0] or Path(source[0]).name != name or not Path(source[0]).is_file():
        return False
    return all(entry.execution == render.cached_from for entry in render.entries) and [
        Path(path).name for path in source[1]
    ] == [path.name for path in outputs]


def _rows(ctx: Context, render: CachedRender, done: _Published) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Script and Execution rows as the pipeline leaves them after a cached first attempt
    (pipeline._store_new and _execution_fields, then store/attempts.succeed)."""
    prepared, plan = render.prepared, render.plan
    script = {
        "id": render.script_id,
        "owner_id": ctx.user_id,
        "prompt": file_prompt(render.path),
        "content": prepared.code,
        "scene_class": prepared.scenes[0],
        "scenes": all_scenes(prepared.code) or all_scenes(render.code),
        "status": ScriptStatus.SUCCESSFUL.value,
        "source": "imported",
        "provider": None,
        "model": None,
        "parent_id": None,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "total_tokens": 0,
        "provider_attempts": [],
        "error": None,
        "created_at": done.started,
        "updated_at": done.completed,
    }
    execution = {
        "id": render.execution_id,
        "script_id": render.script_id,
        "owner_id": ctx.user_id,
        "attempt_number": 1,
        "engine": plan.engine.name,
        "container": getattr(plan.engine, "container_name", None),
        "quality": plan.quality.value,
        "format": plan.format.value,
        "scenes": prepared.scenes,
        "status": ExecutionStatus.CACHED.value,
        "is_successful": True,
        "log": ALL_CACHED_LOG,
        "error": None,
        "error_type": None,
        "error_line": None,
        "output_path": str(done.output_path),
        "outputs": [str(path) for path in done.outputs],
        "original_script": render.code,
        "modified_script": prepared.code if prepared.code != render.code else None,
        "fixes": [fix.to_dict() for fix in prepared.fixes],
        "layout": [],
        "created_at": done.started,
        "started_at": done.started,
        "completed_at": done.completed,
        "duration": 0.0,
        "deadline": done.started + timedelta(seconds=plan.timeout + ABANDON_GRACE),
        "sandbox": None,
        "cached_from": render.cached_from,
        "worker": None,
        "job_id": None,
    }
    return script, execution


def _document(render: CachedRender, done: _Published) -> dict[str, Any]:
    """The result document: ExecuteResult's fields, in its order (`--json`, the batch's items)."""
    return {
        "success": True,
        "script_id": render.script_id,
        "execution_id": render.execution_id,
        "output_path": str(done.output_path),
        "output_url": None,
        "poster_path": str(done.poster) if done.poster else None,
        "poster_url": None,
        "preview_path": None,
        "outputs": [str(path) for path in done.outputs],
        "attempts": 1,
        "executions": [render.execution_id],
        "status": ScriptStatus.SUCCESSFUL.value,
        "error": None,
        "scene_outputs": scene_outputs(render.prepared.scenes, done.outputs, render.stills),
        "fixes": [{**fix.to_dict(), "attempt": 1, "stage": BEFORE_RENDER} for fix in render.prepared.fixes],
        "repair_stopped": None,
    }


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass
