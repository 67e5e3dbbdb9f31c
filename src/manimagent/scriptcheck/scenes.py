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
    """Top-level classes deriving (directly or through the file's own classes) from a manim Scene."""
    scene_like = set(MANIM_SCENE_BASES)
    scenes: list[str] = []
    changed = True
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]
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
