"""The installed manim's API: classes, members, signatures; read once per manim version in a child.

`manim_introspect.py` runs in a child process (manim is never imported here) and its JSON is
cached under the home's cache folder as `manim-api-<version>.json`. `ManimApi` answers the
questions a repair asks: what a class accepts, what members it has, what the nearest names are.
"""

from __future__ import annotations

import difflib
import functools
import json
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

INTROSPECT_SCRIPT = Path(__file__).with_name("manim_introspect.py")
INTROSPECT_TIMEOUT = 180.0
API_SCHEMA = 2  # bump when manim_introspect.py's document changes: older caches are then ignored


@dataclass(frozen=True)
class Callable_:
    """A constructor, function or method: its signature text and the keywords it takes."""

    signature: str
    parameters: tuple[str, ...]
    var_keyword: bool

    def takes(self, keyword: str) -> bool:
        return keyword in self.parameters


class ManimApi:
    """Queries over one manim version's introspected API (the cached JSON document)."""

    def __init__(self, document: dict):
        self.version: str = document.get("version", "unknown")
        self.classes: dict[str, dict] = document.get("classes", {})
        self.functions: dict[str, dict] = document.get("functions", {})
        self.constants: frozenset[str] = frozenset(document.get("constants", []))
        self.numpy: frozenset[str] = frozenset(document.get("numpy", []))

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self.classes) | frozenset(self.functions) | self.constants

    def is_class(self, name: str) -> bool:
        return name in self.classes

    def is_animation(self, name: str) -> bool:
        """Whether `name` is an Animation class (itself, or deriving from it)."""
        info = self.classes.get(name)
        return info is not None and (name == "Animation" or "Animation" in info.get("bases", []))

    def is_mobject_method(self, name: str) -> bool:
        """Whether a Mobject (or ValueTracker, which is one) has the public method `name`."""
        if name.startswith("_"):
            return False
        return "method" in (self.members("Mobject").get(name), self.members("ValueTracker").get(name))

    def members(self, class_name: str) -> dict[str, str]:
        """Member name -> method | property | attribute, inherited ones included."""
        return self.classes.get(class_name, {}).get("members", {})

    def constructor(self, class_name: str) -> Callable_ | None:
        info = self.classes.get(class_name)
        if not info or info.get("signature") is None:
            return None
        return Callable_(
            f"{class_name}{info['signature']}",
            tuple(info.get("parameters", [])),
            bool(info.get("var_keyword")),
        )

    def accepted_keywords(self, class_name: str) -> frozenset[str]:
        """Every keyword the constructor chain takes (a class passes **kwargs on to its bases)."""
        return frozenset(self.classes.get(class_name, {}).get("accepted", []))

    def rejects_unknown_keywords(self, class_name: str) -> bool:
        """Whether a keyword outside `accepted_keywords` is a TypeError (the chain ends in a closed
        __init__)."""
        return bool(self.classes.get(class_name, {}).get("closed"))

    def function(self, name: str) -> Callable_ | None:
        info = self.functions.get(name)
        if not info or info.get("signature") is None:
            return None
        return Callable_(
            f"{name}{info['signature']}", tuple(info.get("parameters", [])), bool(info.get("var_keyword"))
        )

    def method(self, class_name: str, name: str) -> Callable_ | None:
        """The method as the class sees it: its own definition or the nearest base's."""
        for owner in [class_name, *self.classes.get(class_name, {}).get("bases", [])]:
            info = self.classes.get(owner, {}).get("methods", {}).get(name)
            if info:
                return Callable_(
                    f"{owner}.{name}{info['signature']}", tuple(info["parameters"]), bool(info["var_keyword"])
                )
        return None

    def own_methods(self, class_name: str) -> list[str]:
        """The public methods the class's own body defines (not inherited)."""
        return sorted(
            name for name in self.classes.get(class_name, {}).get("methods", {}) if not name.startswith("_")
        )

    def classes_with_method(self, name: str) -> list[str]:
        """The classes whose own body defines the method `name` (where it was introduced)."""
        return sorted(owner for owner, info in self.classes.items() if name in info.get("methods", {}))

    def nearest(
        self, word: str, pool: frozenset[str] | set[str] | list[str], n: int = 3, cutoff: float = 0.6
    ) -> list[str]:
        """The closest names in `pool`, a case-insensitive exact match first."""
        pool = list(pool)
        exact = [name for name in pool if name.lower() == word.lower() and name != word]
        close = difflib.get_close_matches(word, pool, n=n + len(exact), cutoff=cutoff)
        return list(dict.fromkeys([*exact, *close]))[:n]


def manim_version() -> str | None:
    try:
        return metadata.version("manim")
    except metadata.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=8)
def load_manim_api(cache_dir: Path, python: str = sys.executable) -> ManimApi | None:
    """The installed manim's API (cached per manim version under `cache_dir`); None without manim."""
    version = manim_version()
    if version is None:
        return None
    cache = cache_dir / f"manim-api-{version}-v{API_SCHEMA}.json"
    try:
        return ManimApi(json.loads(cache.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        pass
    cache_dir.mkdir(parents=True, exist_ok=True)
    document = _introspect(python, cache_dir)
    if document is None:
        return None
    tmp = cache.with_suffix(f".{id(document)}.tmp")
    tmp.write_text(json.dumps(document), encoding="utf-8")
    tmp.replace(cache)
    return ManimApi(document)


def _introspect(python: str, cwd: Path) -> dict | None:
    """Run the introspection script's text with `-c` in a neutral folder (nothing of ours on sys.path)."""
    try:
        command = [python, "-c", INTROSPECT_SCRIPT.read_text(encoding="utf-8")]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=INTROSPECT_TIMEOUT, check=False, cwd=cwd
        )
        return json.loads(done.stdout) if done.returncode == 0 else None
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def default_manim_api() -> ManimApi | None:
    """The API cached under this home (MANIMAGENT_HOME or the platform data folder)."""
    from manimagent.paths import cache_dir, get_paths

    return load_manim_api(cache_dir(get_paths()))
