"""Finding the Scene classes of a script, in file order."""

from __future__ import annotations

import ast

# Scene bases manim defines; classes derived from these, or from such classes in the same file, are scenes.
MANIM_SCENE_BASES = frozenset(
    {
        "Scene",
        "ThreeDScene",
        "MovingCameraScene",
        "ZoomedScene",
        "VectorScene",
        "LinearTransformationScene",
        "SpecialThreeDScene",
    }
)


def _base_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def find_scenes(tree: ast.Module) -> list[str]:
    """Top-level classes deriving (directly or through the file's own classes) from a manim Scene,
    or from an imported `...Scene` class (a plugin's: `VoiceoverScene`, `SpaceScene`)."""
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    scene_like = set(MANIM_SCENE_BASES) | _imported_scene_bases(tree, {cls.name for cls in classes})
    scenes: list[str] = []
    changed = True
    while changed:
        changed = False
        for cls in classes:
            if cls.name in scene_like:
                continue
            if any(_base_name(base) in scene_like for base in cls.bases):
                scene_like.add(cls.name)
                changed = True
    for cls in classes:
        if cls.name in scene_like and cls.name not in MANIM_SCENE_BASES:
            scenes.append(cls.name)
    return scenes


def _imported_scene_bases(tree: ast.Module, local: set[str]) -> set[str]:
    imported = {
        alias.asname or alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    star = any(
        alias.name == "*"
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and (node.module or "") != "manim"
        for alias in node.names
    )
    bases = {
        _base_name(base) for cls in ast.walk(tree) if isinstance(cls, ast.ClassDef) for base in cls.bases
    }
    return {
        name
        for name in bases
        if name and name.endswith("Scene") and name not in local and (name in imported or star)
    }
