"""The render cache: a finished scene's file, kept under a key of everything that decides it, and
hard-linked (never copied, where the filesystem allows) into the next execution that asks for it.

The key of a scene: its code (the file after the deterministic fixes, less the other Scene classes
it does not build on, so that repairing one scene of a file leaves the others' keys alone), the
scene, quality, format and still-scene length, the manim version, the engine (and for docker the
image), whether LaTeX is present, and whether the layout check runs.

Scenes render, and are cached, one by one: when a scene of a multi-scene file fails, the scenes
before it are kept, the ones after it are rendered on their own, and a repair renders only what
failed (the rest are hits).

    <home>/cache/renders/<key>/<Scene>.<ext>    the file (a hard link to the execution's)
    <home>/cache/renders/<key>/meta.json        scene, execution, size; its mtime is the last use
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

from manimagent.render.base import ProgressSink, RenderFailure, RenderRequest, RenderResult

META = "meta.json"
ALL_CACHED_LOG = "(every scene came from the render cache)\n"  # the log of an execution that rendered nothing
UNKNOWN_SOURCE = "cache"  # `cached_from` when no entry names the execution that rendered it


@dataclass(frozen=True)
class CacheEntry:
    key: str
    folder: Path
    file: Path
    execution: str | None
    size: int


class RenderCache:
    def __init__(self, root: Path, max_size: int):
        self.root = root
        self.max_size = max_size

    def lookup(self, key: str) -> CacheEntry | None:
        folder = self.root / key
        try:
            meta = json.loads((folder / META).read_text())
            file = folder / meta["file"]
            if not file.is_file():
                return None
        except (OSError, ValueError, KeyError, TypeError):
            return None
        os.utime(folder / META)  # least recently used goes first
        return CacheEntry(key, folder, file, meta.get("execution"), int(meta.get("size", 0)))

    def attribute(self, keys: list[str], execution: str) -> None:
        """Name the execution whose render an entry holds (a later hit is `cached` from it)."""
        for key in keys:
            meta_path = self.root / key / META
            try:
                meta = json.loads(meta_path.read_text())
                meta["execution"] = execution
                meta_path.write_text(json.dumps(meta))
            except (OSError, ValueError):
                continue

    def store(self, key: str, file: Path, execution: str | None = None) -> None:
        """Keep `file` under `key` (a hard link), then evict the least recently used past max_size."""
        folder = self.root / key
        staging = self.root / f".{key}.{os.getpid()}.{time.monotonic_ns()}"
        try:
            staging.mkdir(parents=True)
            link_or_copy(file, staging / file.name)
            size = (staging / file.name).stat().st_size
            (staging / META).write_text(json.dumps({"file": file.name, "execution": execution, "size": size}))
            if folder.exists():
                shutil.rmtree(folder, ignore_errors=True)
            os.replace(staging, folder)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            return
        self.evict()

    def entries(self) -> list[CacheEntry]:
        found: list[CacheEntry] = []
        if not self.root.is_dir():
            return found
        for folder in self.root.iterdir():
            if folder.name.startswith("."):
                continue
            entry = self.lookup_quietly(folder)
            if entry is not None:
                found.append(entry)
        return found

    def lookup_quietly(self, folder: Path) -> CacheEntry | None:
        try:
            meta = json.loads((folder / META).read_text())
            return CacheEntry(
                folder.name, folder, folder / meta["file"], meta.get("execution"), int(meta.get("size", 0))
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def evict(self) -> list[str]:
        """Remove the least recently used entries until the cache fits in max_size."""
        if self.max_size <= 0:
            return []
        entries = sorted(self.entries(), key=_last_used)
        total = sum(entry.size for entry in entries)
        removed = []
        while entries and total > self.max_size:
            entry = entries.pop(0)
            shutil.rmtree(entry.folder, ignore_errors=True)
            total -= entry.size
            removed.append(entry.key)
        return removed

    def clear(self) -> int:
        entries = self.entries()
        shutil.rmtree(self.root, ignore_errors=True)
        return len(entries)


def source_of(entries: list[CacheEntry]) -> str:
    """The `cached_from` of a render answered by `entries`: the first execution one names."""
    return next((entry.execution for entry in entries if entry.execution), UNKNOWN_SOURCE)


def _last_used(entry: CacheEntry) -> float:
    try:
        return (entry.folder / META).stat().st_mtime
    except OSError:
        return 0.0


def link_or_copy(source: Path, target: Path) -> None:
    """`target` as a hard link of `source` (a copy where the filesystem has no links)."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


# ---------------------------------------------------------------- keys


def scene_code(code: str, scene: str) -> str:
    """The code that decides `scene`: the file less the other Scene classes it does not build on
    or name (a module-level helper, import or constant stays in: it may be used by any scene)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    if scene not in classes:
        return code
    needed = _needed_classes(scene, classes)
    kept = [
        node
        for node in tree.body
        if not (isinstance(node, ast.ClassDef) and _is_scene_like(node, classes) and node.name not in needed)
    ]
    return ast.unparse(ast.Module(body=kept, type_ignores=[]))


def _needed_classes(scene: str, classes: dict[str, ast.ClassDef]) -> set[str]:
    needed, todo = set(), [scene]
    while todo:
        name = todo.pop()
        if name in needed or name not in classes:
            continue
        needed.add(name)
        todo += [
            node.id for node in ast.walk(classes[name]) if isinstance(node, ast.Name) and node.id in classes
        ]
    return needed


def _is_scene_like(node: ast.ClassDef, classes: dict[str, ast.ClassDef], depth: int = 0) -> bool:
    """A class whose bases end in a name with `Scene` (a scene of this file, or one it builds on)."""
    for base in node.bases:
        name = base.attr if isinstance(base, ast.Attribute) else base.id if isinstance(base, ast.Name) else ""
        if name.endswith("Scene") or (
            name in classes and depth < 10 and _is_scene_like(classes[name], classes, depth + 1)
        ):
            return True
    return False


@lru_cache(maxsize=1)
def manim_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("manim")
    except metadata.PackageNotFoundError:
        return "unknown"


def scene_key(
    request: RenderRequest, scene: str, engine_identity: str, has_latex: bool, still_seconds: float
) -> str:
    parts = {
        "code": scene_code(request.code, scene),
        "scene": scene,
        "quality": request.quality.value,
        "format": request.format.value,
        "still_seconds": still_seconds,
        "manim": manim_version(),
        "engine": engine_identity,
        "latex": has_latex,
        "layout": request.layout,
    }
    if request.narration is not None:  # the engine, voice and audio of a narrated scene
        parts["narration"] = request.narration.identity()
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:40]


# ---------------------------------------------------------------- the engine in front of an engine


class CachingEngine:
    """An engine that answers from the cache what it can, renders the rest scene group by scene
    group, and keeps what rendered (even when a later scene failed).

    With no cache (`--no-cache`, `cache.enabled = false`) it looks nothing up and keeps nothing,
    but scenes still render on after a failing one, so partial success does not depend on it."""

    def __init__(self, engine, cache: RenderCache | None, still_seconds: float):
        self.engine = engine
        self.cache = cache
        self.still_seconds = still_seconds
        self.name = engine.name
        self.container_name = getattr(engine, "container_name", None)

    @property
    def has_latex(self) -> bool:
        return bool(getattr(self.engine, "has_latex", True))

    @property
    def identity(self) -> str:
        image = getattr(self.engine, "image", None)
        return f"{self.engine.name}:{image}" if image else self.engine.name

    def render(
        self, request: RenderRequest, staging: Path, on_progress: ProgressSink | None = None
    ) -> RenderResult:
        return self.start(request, staging, on_progress).wait()

    def keys_for(self, request: RenderRequest) -> dict[str, str]:
        """The cache key of each scene of `request` (none without a cache): the one place keys are made."""
        if self.cache is None:
            return {}
        return {
            scene: scene_key(request, scene, self.identity, self.has_latex, self.still_seconds)
            for scene in request.scenes
        }

    def found(self, keys: dict[str, str]) -> dict[str, CacheEntry]:
        """The entries of those scenes (scene -> key) that are in the cache (each one's use is noted)."""
        cache = self.cache
        if cache is None:
            return {}
        return {scene: entry for scene, key in keys.items() if (entry := cache.lookup(key)) is not None}

    def complete_hit(self, request: RenderRequest) -> dict[str, CacheEntry] | None:
        """Every scene's entry, in scene order, when the cache holds them all (a render would start
        nothing); None otherwise, and always for a dry run (the preflight renders)."""
        if request.dry_run or self.cache is None:
            return None
        hits = self.found(self.keys_for(request))
        return {scene: hits[scene] for scene in request.scenes} if len(hits) == len(request.scenes) else None

    def start(self, request: RenderRequest, staging: Path, on_progress: ProgressSink | None = None):
        if request.dry_run:
            return _Started(self.engine, request, staging, on_progress)
        return CachedJob(self, request, staging, on_progress)


class _Started:
    """A plain job of the engine (started now when the engine can)."""

    def __init__(self, engine, request: RenderRequest, staging: Path, on_progress: ProgressSink | None):
        self.engine, self.request, self.staging, self.on_progress = engine, request, staging, on_progress
        self.handle = engine.start(request, staging, on_progress) if hasattr(engine, "start") else None

    def wait(self) -> RenderResult:
        if self.handle is not None:
            return self.handle.wait()
        return self.engine.render(self.request, self.staging, on_progress=self.on_progress)

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()


@dataclass
class _Progress:
    outputs: dict[str, Path] = field(default_factory=dict)
    failures: dict[str, RenderFailure] = field(default_factory=dict)
    logs: list[str] = field(default_factory=list)
    layout: list = field(default_factory=list)
    duration: float = 0.0
    sandbox: str | None = None
    stored: dict[str, str] = field(default_factory=dict)  # scene -> key, rendered now and kept


class CachedJob:
    def __init__(
        self, engine: CachingEngine, request: RenderRequest, staging: Path, on_progress: ProgressSink | None
    ):
        self.owner = engine
        self.request = request
        self.staging = staging
        self.on_progress = on_progress
        self.keys = engine.keys_for(request)
        self.hits = engine.found(self.keys)
        self.queue = [scene for scene in request.scenes if scene not in self.hits]
        self.current = self._start(self.queue) if self.queue else None

    def _start(self, scenes: list[str]) -> _Started:
        return _Started(
            self.owner.engine, replace(self.request, scenes=scenes), self.staging, self.on_progress
        )

    def wait(self) -> RenderResult:
        done = _Progress()
        self.staging.mkdir(parents=True, exist_ok=True)
        for scene, entry in self.hits.items():
            target = self.staging / entry.file.name
            link_or_copy(entry.file, target)
            done.outputs[scene] = target
        while self.current is not None:
            scenes = self.current.request.scenes
            result = self.current.wait()
            self.current = None
            self._absorb(done, result, scenes)
            if result.ok:
                break
            failed = next((s for s in scenes if s not in done.outputs), scenes[0])
            done.failures[failed] = result.failure or RenderFailure("RenderError", "the render failed")
            rest = scenes[scenes.index(failed) + 1 :]
            if rest:  # the scenes after the failing one still render, on their own
                self.current = self._start(rest)
        return self._result(done)

    def _absorb(self, done: _Progress, result: RenderResult, scenes: list[str]) -> None:
        done.logs.append(result.log)
        done.duration += result.duration
        done.layout += list(result.layout)
        done.sandbox = result.sandbox or done.sandbox
        for path in result.outputs if result.ok else result.partial:
            if path.stem in scenes:
                done.outputs[path.stem] = path
                if self.owner.cache is not None:
                    self.owner.cache.store(self.keys[path.stem], path)
                    done.stored[path.stem] = self.keys[path.stem]

    def _result(self, done: _Progress) -> RenderResult:
        ordered = [done.outputs[scene] for scene in self.request.scenes if scene in done.outputs]
        log = "".join(done.logs) if done.logs else ALL_CACHED_LOG
        if done.failures:
            scene, failure = next(iter(done.failures.items()))
            failure = replace(
                failure,
                message=f"{failure.message}"
                if len(self.request.scenes) == 1
                else f"{failure.message} [scene {scene}]",
            )
            status = {
                s: "rendered" if s in done.outputs else "failed" if s in done.failures else "not rendered"
                for s in self.request.scenes
            }
            return RenderResult(
                ok=False,
                log=log,
                failure=failure,
                duration=done.duration,
                sandbox=done.sandbox,
                layout=done.layout,
                partial=ordered,
                scene_status=status,
                cache_keys=list(done.stored.values()),
            )
        cached_from = source_of(list(self.hits.values())) if not self.queue else None
        return RenderResult(
            ok=True,
            outputs=ordered,
            log=log,
            duration=done.duration,
            sandbox=done.sandbox,
            layout=done.layout,
            cached_from=cached_from,
            cached_scenes=list(self.hits),
            cache_keys=list(done.stored.values()),
        )

    def cancel(self) -> None:
        if self.current is not None:
            self.current.cancel()
