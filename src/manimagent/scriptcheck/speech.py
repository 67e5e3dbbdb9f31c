"""A narrated scene whose speech service comes from a module that is not installed.

Agents that write manim-voiceover scenes often wrap a TTS vendor in a module of their own
(`from src.utils.kokoro_voiceover import KokoroService`, `from utils.elevenlabs_voiceover import
get_speech_service`) and tell the model to import it. Outside their repository that import is
the first thing to fail, although the service is only ever handed to `set_speech_service`.

The fix: such an import becomes manim-voiceover's own offline service,
`from manim_voiceover.services.pyttsx3 import PyTTSX3Service`, and each `set_speech_service(X(...))`
that used it becomes `set_speech_service(PyTTSX3Service())`. The result is plain manim-voiceover
code. Inside manimagent the narration engine (`voiceover.engine`) speaks it whatever service it
names (render/voice_hook.py).

It applies only when every use of the imported name is that argument, and the module cannot be
found here (or is a relative import, which a script run on its own cannot resolve).
"""

from __future__ import annotations

import ast
import sys

from manimagent.render.narration import imports_voiceover
from manimagent.scriptcheck.plugins import importable
from manimagent.scriptcheck.source_edit import SourceEdit

SERVICE_MODULE = "manim_voiceover.services.pyttsx3"
SERVICE = "PyTTSX3Service"
IMPORT = f"from {SERVICE_MODULE} import {SERVICE}"


def fix_missing_speech_service(code: str) -> tuple[str, list[tuple[str, int]]]:
    """`code` with each missing speech-service import replaced, and (description, line) per fix."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code, []
    if not imports_voiceover(tree):
        return code, []
    arguments = _service_arguments(tree)
    service_names = {name for name, _node in arguments}
    if not service_names:
        return code, []
    only_as_service = _used_only_as_service(tree, service_names, {id(node) for _name, node in arguments})
    source = SourceEdit(code)
    fixes: list[tuple[str, int]] = []
    replaced: set[str] = set()
    for node in tree.body:
        if not isinstance(node, ast.ImportFrom) or not _missing(node):
            continue
        names = {alias.asname or alias.name for alias in node.names}
        if "*" in names or not names <= (service_names & only_as_service):
            continue
        source.replace(node, IMPORT)
        replaced |= names
        fixes.append(
            (
                f"`{_describe(node)}` cannot be imported here: the speech service is manim-voiceover's "
                f"{SERVICE} (the narration engine speaks it)",
                node.lineno,
            )
        )
    for name, argument in arguments:
        if name in replaced:
            source.replace(argument, f"{SERVICE}()")
    return (source.result(), fixes) if fixes else (code, [])


def _service_arguments(tree: ast.Module) -> list[tuple[str, ast.expr]]:
    """(name, argument) for each `set_speech_service(Name(...))` or `set_speech_service(Name)`."""
    found: list[tuple[str, ast.expr]] = []
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "set_speech_service"
        ):
            continue
        given = node.args[:1] or [kw.value for kw in node.keywords if kw.arg == "speech_service"]
        for argument in given:
            target = argument.func if isinstance(argument, ast.Call) else argument
            if isinstance(target, ast.Name):
                found.append((target.id, argument))
    return found


def _used_only_as_service(tree: ast.Module, names: set[str], arguments: set[int]) -> set[str]:
    """The names of `names` that appear (loaded) nowhere but inside a set_speech_service argument."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if id(node) in arguments:
            inside |= {id(child) for child in ast.walk(node)}
    elsewhere = {
        node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and node.id in names and id(node) not in inside
    }
    return names - elsewhere


def _missing(node: ast.ImportFrom) -> bool:
    if node.level:
        return True  # a relative import: a script run on its own has no package
    top = (node.module or "").split(".")[0]
    if not top or top in sys.stdlib_module_names or top in ("manim", "manim_voiceover"):
        return False
    return not importable(top)


def _describe(node: ast.ImportFrom) -> str:
    names = ", ".join(alias.name + (f" as {alias.asname}" if alias.asname else "") for alias in node.names)
    return f"from {'.' * node.level}{node.module or ''} import {names}"
