"""Old-style `self.play(mob.method, *args)`: ManimGL and manim CE before 0.5 turned a method
passed to `play`, followed by its arguments, into an animation of that method. CE refuses it
("Passing Mobject methods to Scene.play is no longer supported. Use Mobject.animate instead.");
the same call in today's CE is `self.play(mob.animate.method(*args))`.

As the old `play` read its arguments: a method starts a group, and the positional arguments after
it are the method's, up to the next animation (an Animation class called, an `.animate` chain)
or the next method. Keywords stay with `play` (run_time, rate_func). A call with `*args`, or one
whose method is not a Mobject's (a ValueTracker is one), is left alone.
"""

from __future__ import annotations

import ast

from manimagent.scriptcheck.manim_api import ManimApi
from manimagent.scriptcheck.source_edit import SourceEdit

MESSAGE = "Passing Mobject methods to Scene.play is no longer supported"


def fix_play_methods(code: str, api: ManimApi) -> tuple[str, list[tuple[str, int]]]:
    """Every `play` call that passes a Mobject method, rewritten with `.animate`."""
    tree = ast.parse(code)
    source = SourceEdit(code)
    fixes: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not _is_play(node):
            continue
        if any(isinstance(arg, ast.Starred) for arg in node.args):
            continue
        groups = _groups(node.args, api)
        methods = [method for method, _args in groups if method is not None]
        if not methods:
            continue
        parts = [
            _animate(source, method, args) if method else source.text(args[0]) for method, args in groups
        ]
        parts += [source.text(keyword) for keyword in node.keywords]
        source.replace(node, f"{source.text(node.func)}({', '.join(parts)})")
        rewritten = [_animate(source, method, args) for method, args in groups if method is not None]
        fixes.append(
            (
                f"play({', '.join(source.text(method) for method in methods)}, ...) -> "
                f"play({', '.join(rewritten)}) (CE animates a method with .animate)",
                node.lineno,
            )
        )
    return (source.result(), fixes) if fixes else (code, [])


def _is_play(node: ast.Call) -> bool:
    return isinstance(node.func, ast.Attribute) and node.func.attr == "play"


def _groups(args: list[ast.expr], api: ManimApi) -> list[tuple[ast.Attribute | None, list[ast.expr]]]:
    """(method, its arguments) per method passed; (None, [argument]) for everything else."""
    groups: list[tuple[ast.Attribute | None, list[ast.expr]]] = []
    open_group: list[ast.expr] | None = None
    for arg in args:
        if isinstance(arg, ast.Attribute) and api.is_mobject_method(arg.attr) and not _is_animate(arg.value):
            open_group = []
            groups.append((arg, open_group))
        elif open_group is not None and not _is_animation(arg, api):
            open_group.append(arg)
        else:
            open_group = None
            groups.append((None, [arg]))
    return groups


def _is_animation(node: ast.expr, api: ManimApi) -> bool:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and api.is_animation(node.func.id):
        return True
    return _is_animate(node)


def _is_animate(node: ast.expr) -> bool:
    return any(isinstance(part, ast.Attribute) and part.attr == "animate" for part in ast.walk(node))


def _animate(source: SourceEdit, method: ast.Attribute, args: list[ast.expr]) -> str:
    arguments = ", ".join(source.text(arg) for arg in args)
    return f"{source.text(method.value)}.animate.{method.attr}({arguments})"
