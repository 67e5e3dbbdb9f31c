"""API grounding: a failure that names an attribute, keyword, name or import, checked against manim.

`parse_api_error` reads what the failure names. `grounded_fix` applies a fix when exactly one
confident candidate exists that the installed manim confirms (the changelog renames, a unique
near name, a compatible signature); the code stays plain Manim CE. Otherwise `grounding_facts`
gathers what the repair prompt should carry: the real signature, the members, the nearest names.
"""

from __future__ import annotations

import ast
import difflib
import re
from dataclasses import dataclass, field

from manimagent.render.base import RenderFailure
from manimagent.scriptcheck.manim_api import Callable_, ManimApi
from manimagent.scriptcheck.renames import (
    ATTRIBUTE_RENAMES,
    KEYWORD_RENAMES,
    KEYWORDS_DROPPED,
    NAME_RENAMES,
    NUMPY_CONSTANTS,
    PLUGIN_INSTALL,
    RANGE_KEYWORDS,
    STDLIB_MODULES,
)
from manimagent.scriptcheck.source_edit import SourceEdit, call_name

CONFIDENT = 0.85  # difflib ratio above which a unique near name is taken as the one meant
NEAREST = 3
PROMPT_CUTOFF = 0.4  # for the prompt's nearest names: looser than a fix, the LLM judges
MAX_MEMBERS = 60

_ATTRIBUTE = re.compile(
    r"^(?:type object )?'?(?P<owner>[\w.]+)'?(?: object)? has no attribute '(?P<name>\w+)'"
)
_MODULE_ATTRIBUTE = re.compile(r"^module '(?P<owner>[\w.]+)' has no attribute '(?P<name>\w+)'")
_KEYWORD = re.compile(r"^(?P<callable>[\w.<>]+)\(\) got an unexpected keyword argument '(?P<name>\w+)'")
_NAME = re.compile(r"^name '(?P<name>\w+)' is not defined")
_IMPORT_NAME = re.compile(r"^cannot import name '(?P<name>\w+)' from '(?P<owner>[\w.]+)'")
_NO_MODULE = re.compile(r"^No module named '(?P<owner>[\w.]+)'")


@dataclass(frozen=True)
class ApiError:
    """What a failure names: kind is attribute | keyword | name | import | module."""

    kind: str
    name: str
    owner: str | None = None  # the class or module (attribute, import), the callable (keyword)


@dataclass(frozen=True)
class Fix:
    description: str
    line: int | None


@dataclass
class GroundingFacts:
    """The installed manim's truth about a failing name, for the repair prompt."""

    error: ApiError
    signature: str | None = None
    members: list[str] = field(default_factory=list)
    nearest: list[str] = field(default_factory=list)
    install: str | None = None


def parse_api_error(failure: RenderFailure) -> ApiError | None:
    message = failure.message.strip()
    kind = failure.error_type
    patterns = {
        "AttributeError": [(_MODULE_ATTRIBUTE, "attribute"), (_ATTRIBUTE, "attribute")],
        "TypeError": [(_KEYWORD, "keyword")],
        "NameError": [(_NAME, "name")],
        "ImportError": [(_IMPORT_NAME, "import"), (_NO_MODULE, "module")],
        "ModuleNotFoundError": [(_NO_MODULE, "module")],
    }
    for pattern, found in patterns.get(kind, []):
        match = pattern.match(message)
        if match:
            groups = match.groupdict()
            owner = groups.get("owner") or groups.get("callable")
            return ApiError(found, groups.get("name") or owner or "", owner)
    return None


def install_hint(failure: RenderFailure) -> str | None:
    """The install command for a plugin or optional extra the failure says is missing."""
    error = parse_api_error(failure)
    if error is None or error.kind != "module" or not error.owner:
        return None
    return PLUGIN_INSTALL.get(error.owner.split(".")[0])


# --- deterministic fixes -------------------------------------------------------------------


def grounded_fix(code: str, failure: RenderFailure, api: ManimApi) -> tuple[str, list[Fix]]:
    """The fix for an attribute, keyword, name or import failure, when exactly one is confident."""
    error = parse_api_error(failure)
    if error is None:
        return code, []
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code, []
    edit = SourceEdit(code)
    handler = {
        "attribute": _fix_attribute,
        "keyword": _fix_keyword,
        "name": _fix_name,
        "import": _fix_import,
    }.get(error.kind)
    fixes = handler(tree, edit, error, failure.line, api) if handler else []
    return (edit.result(), fixes) if fixes else (code, [])


def _on_line(nodes: list, line: int | None) -> list:
    """The nodes on the failing line when some are there (the line can point elsewhere), else all."""
    there = [node for node in nodes if line is not None and node.lineno <= line <= node.end_lineno]
    return there or nodes


def _fix_attribute(
    tree: ast.Module, edit: SourceEdit, error: ApiError, line: int | None, api: ManimApi
) -> list[Fix]:
    if _script_defines(tree, error.name):
        return []
    if error.owner == "Camera" and error.name == "frame":
        return _moving_camera_scenes(tree, edit)
    if error.name == "fix_in_frame":
        return _fixed_in_frame(tree, edit)
    parents = _parents(tree)
    uses = _on_line(
        [node for node in ast.walk(tree) if isinstance(node, ast.Attribute) and node.attr == error.name], line
    )
    if not uses:
        return []
    owner = (error.owner or "").rsplit(".", 1)[-1]
    fixes: list[Fix] = []
    for node in uses:
        parent = parents.get(node)
        called = isinstance(parent, ast.Call) and parent.func is node
        new = _attribute_candidate(owner, error.name, called, api)
        if new is None:
            return []  # one use we cannot fix: leave the whole failure to the LLM
        if new.endswith("()") and called:
            new = new[:-2]
        edit.replace_tail(node, error.name, new)
        fixes.append(
            Fix(f"{owner}.{error.name} -> {owner}.{new} (installed manim {api.version})", node.lineno)
        )
    return fixes


def _moving_camera_scenes(tree: ast.Module, edit: SourceEdit) -> list[Fix]:
    """`self.camera.frame` in a plain Scene: the scene becomes a MovingCameraScene (whose camera
    has a frame)."""
    fixes = []
    for cls in [node for node in tree.body if isinstance(node, ast.ClassDef)]:
        uses_frame = any(
            isinstance(node, ast.Attribute)
            and node.attr == "frame"
            and ast.unparse(node.value) == "self.camera"
            for node in ast.walk(cls)
        )
        for base in cls.bases:
            if uses_frame and isinstance(base, ast.Name) and base.id == "Scene":
                edit.replace(base, "MovingCameraScene")
                fixes.append(
                    Fix(
                        f"{cls.name}(Scene) -> {cls.name}(MovingCameraScene): its camera.frame is used",
                        cls.lineno,
                    )
                )
    return fixes


def _fixed_in_frame(tree: ast.Module, edit: SourceEdit) -> list[Fix]:
    """OpenGL's `mob.fix_in_frame()` statement in a ThreeDScene: the Cairo renderer's equivalent."""
    fixes = []
    for cls in [node for node in tree.body if isinstance(node, ast.ClassDef) and _derives_from_3d(node)]:
        for node in ast.walk(cls):
            call = node.value if isinstance(node, ast.Expr) else None
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and call.func.attr == "fix_in_frame"
                and not call.args
            ):
                edit.replace(call, f"self.add_fixed_in_frame_mobjects({edit.text(call.func.value)})")
                fixes.append(
                    Fix(
                        "mob.fix_in_frame() (OpenGL only) -> self.add_fixed_in_frame_mobjects(mob)",
                        call.lineno,
                    )
                )
    return fixes


def _derives_from_3d(cls: ast.ClassDef) -> bool:
    return any(
        isinstance(base, ast.Name) and base.id in {"ThreeDScene", "SpecialThreeDScene"} for base in cls.bases
    )


def _attribute_candidate(owner: str, name: str, called: bool, api: ManimApi) -> str | None:
    members = api.members(owner)
    renamed = ATTRIBUTE_RENAMES.get((owner, name)) or ATTRIBUTE_RENAMES.get(("*", name))
    if renamed and (not members or renamed.removesuffix("()") in members):
        return renamed
    if not members:
        return None
    getter = f"get_{name}"
    if members.get(getter) == "method" and not called:
        method = api.method(owner, getter)
        if method is None or not _required_positionals(method):
            return getter + "()"
    pool = [
        member
        for member, kind in members.items()
        if not member.startswith("_") and (kind == "method") == called
    ]
    near = api.nearest(name, pool, n=2, cutoff=CONFIDENT)
    return near[0] if len(near) == 1 else None


def _required_positionals(method: Callable_) -> bool:
    """Whether a method needs arguments (its signature text has a parameter without a default)."""
    inner = method.signature[method.signature.find("(") + 1 : method.signature.rfind(")")]
    for part in _split_parameters(inner):
        name = part.split(":")[0].split("=")[0].strip()
        if name in {"self", "cls", ""} or name.startswith("*"):
            continue
        if "=" not in part:
            return True
    return False


def _split_parameters(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char in "([{"
        depth -= char in ")]}"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current] if current.strip() else parts


def _fix_keyword(
    tree: ast.Module, edit: SourceEdit, error: ApiError, line: int | None, api: ManimApi
) -> list[Fix]:
    """Fix the reported keyword, then every other keyword the same callee rejects, in every call to it."""
    calls = _on_line(
        [node for node in ast.walk(tree) if isinstance(node, ast.Call) and _passes(node, error.name)], line
    )
    target = (error.owner or "").split(".")
    method = target[-1] if target[-1] != "__init__" else None
    passed_through = len(target) >= 2 and target[-2] in {
        "Mobject",
        "VMobject",
        "OpenGLMobject",
        "OpenGLVMobject",
    }
    callees = {
        name
        for call in calls
        if (name := call_name(call)) and (name == method or (not method and api.is_class(name)))
    }
    if len(callees) != 1:
        return []
    callee = callees.pop()
    named = (
        api.method(target[-2], method) if method and len(target) >= 2 else None
    )  # the error's own Class.method
    accepted = frozenset(named.parameters) if named else None
    fixes: list[Fix] = []
    for call in [node for node in ast.walk(tree) if isinstance(node, ast.Call) and call_name(node) == callee]:
        found = _fix_rejected_keywords(
            call,
            edit,
            callee,
            api,
            passed_through,
            must=error.name if call in calls else None,
            accepted=accepted,
        )
        if found is None:
            return []
        fixes += found
    return fixes


def fix_unknown_keywords(tree: ast.Module, edit: SourceEdit, api: ManimApi, own_names: set[str]) -> list[Fix]:
    """Before a render: calls of manim classes with keywords their constructor chain rejects."""
    fixes: list[Fix] = []
    for call in ast.walk(tree):
        if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
            continue
        name = call.func.id
        if name in own_names or not api.rejects_unknown_keywords(name):
            continue
        fixes += _fix_rejected_keywords(call, edit, name, api, passed_through=True, must=None) or []
    return fixes


def _fix_rejected_keywords(
    call: ast.Call,
    edit: SourceEdit,
    name: str,
    api: ManimApi,
    passed_through: bool,
    must: str | None,
    accepted: frozenset[str] | None = None,
) -> list[Fix] | None:
    """Fixes for the call's keywords outside what `name` accepts; None when `must` has none."""
    accepted = accepted if accepted is not None else _accepted(name, api)
    if accepted is None:
        return None
    closed = api.rejects_unknown_keywords(name)  # else only `must` is known to be rejected
    fixes: list[Fix] = []
    done: set[str] = set()
    for keyword in [
        k for k in call.keywords if k.arg and k.arg not in accepted and (closed or k.arg == must)
    ]:
        if keyword.arg in done:
            continue
        fix = _fix_call_keyword(call, edit, name, keyword, accepted, passed_through, done)
        if fix is None and keyword.arg == must:
            return None
        fixes += [fix] if fix else []
    return fixes


def _fix_call_keyword(
    call: ast.Call,
    edit: SourceEdit,
    name: str,
    node: ast.keyword,
    accepted: frozenset[str],
    passed_through: bool,
    done: set[str],
) -> Fix | None:
    keyword = node.arg or ""
    for (low, high), wanted in RANGE_KEYWORDS.items():
        if keyword in (low, high) and wanted in accepted:
            done.update({low, high})
            return _merge_range(call, edit, low, high, wanted, name)
    done.add(keyword)
    renamed = KEYWORD_RENAMES.get((name, keyword))
    if renamed and renamed in accepted and not _passes(call, renamed):
        edit.replace_keyword_name(node, renamed)
        return Fix(f"{name}({keyword}=...) -> {name}({renamed}=...)", node.lineno)
    near = [candidate for candidate in _nearest_keywords(keyword, accepted) if not _passes(call, candidate)]
    if len(near) == 1:
        edit.replace_keyword_name(node, near[0])
        return Fix(f"{name}({keyword}=...) -> {name}({near[0]}=...)", node.lineno)
    if keyword in KEYWORDS_DROPPED.get(name, frozenset()) or (passed_through and not near):
        if keyword == "inner_radius" and not _is_zero(node.value):
            return None
        edit.remove_keyword(call, node)
        return Fix(
            f"{name}: dropped {keyword}=, which the installed manim's {name} does not take", node.lineno
        )
    return None


def _accepted(name: str, api: ManimApi) -> frozenset[str] | None:
    if api.is_class(name):
        return api.accepted_keywords(name)
    owners = api.classes_with_method(name)
    signatures = {tuple(info.parameters) for owner in owners if (info := api.method(owner, name))}
    if len(signatures) == 1:
        return frozenset(next(iter(signatures)))
    function = api.function(name)
    return frozenset(function.parameters) if function else None


def _nearest_keywords(keyword: str, accepted: frozenset[str]) -> list[str]:
    return difflib.get_close_matches(keyword, sorted(accepted), n=2, cutoff=CONFIDENT)


def _passes(call: ast.Call, keyword: str) -> bool:
    return any(k.arg == keyword for k in call.keywords)


def _is_zero(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value in (0, 0.0)


def _merge_range(call: ast.Call, edit: SourceEdit, low: str, high: str, wanted: str, name: str) -> Fix | None:
    given = {k.arg: k for k in call.keywords}
    if low not in given or high not in given or wanted in given:
        return None
    first, second = given[low], given[high]
    text = f"{wanted}=[{edit.text(first.value)}, {edit.text(second.value)}]"
    edit.replace(first, text)
    edit.remove_keyword(call, second)
    return Fix(f"{name}({low}=..., {high}=...) -> {name}({wanted}=[..., ...])", first.lineno)


def _fix_name(
    tree: ast.Module, edit: SourceEdit, error: ApiError, line: int | None, api: ManimApi
) -> list[Fix]:
    new = name_fix(error.name, tree, api)
    if new is None:
        return []
    if new.startswith("import "):
        edit.insert_line(_import_line(tree), new)
        return [Fix(f"added `{new}` ({error.name} was used without it)", 1)]
    fixes = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == error.name and isinstance(node.ctx, ast.Load):
            edit.replace(node, new)
            fixes.append(Fix(f"{error.name} -> {new} (installed manim {api.version})", node.lineno))
    return fixes


def name_fix(name: str, tree: ast.Module, api: ManimApi) -> str | None:
    """`name_candidate` for the script `tree`. A variable-like name (`text`) becomes a class
    (`Text`) only where every use calls it: `Transform(text, ...)` names a mobject the snippet
    never made, and the class in its place is no mobject either."""
    new = name_candidate(name, api)
    if new and name[:1].islower() and api.is_class(new) and name in _names_used_as_values(tree):
        return None
    return new


def _names_used_as_values(tree: ast.Module) -> set[str]:
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    return {
        node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and id(node) not in called
    }


def name_candidate(name: str, api: ManimApi) -> str | None:
    """What an undefined name should be, when exactly one confident answer exists."""
    if name in NAME_RENAMES and NAME_RENAMES[name] in api.names:
        return NAME_RENAMES[name]
    if name in STDLIB_MODULES:
        return f"import {name}"
    if name in api.numpy or name in NUMPY_CONSTANTS:
        return f"np.{name}"
    near = api.nearest(name, api.names, n=2, cutoff=CONFIDENT)
    exact_case = [candidate for candidate in near if candidate.lower() == name.lower()]
    if exact_case:
        return exact_case[0]
    return near[0] if len(near) == 1 else None


def _fix_import(
    tree: ast.Module, edit: SourceEdit, error: ApiError, line: int | None, api: ManimApi
) -> list[Fix]:
    """`from manim[.sub] import OLD`: the one candidate, taken from `manim` itself (plain CE names)."""
    if (error.owner or "").split(".")[0] != "manim":
        return []
    new = name_candidate(error.name, api)
    if new is None or new.startswith(("import ", "np.")):
        return []
    fixes = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or node.module != error.owner:
            continue
        for alias in [alias for alias in node.names if alias.name == error.name]:
            alias_name = alias.asname or (error.name if _used(tree, error.name) else None)
            text = f"{new} as {alias_name}" if alias_name else new
            if node.module == "manim":
                edit.replace_alias(node, alias, text)
            elif len(node.names) == 1:
                edit.replace(node, f"from manim import {text}")
            else:
                return []
            fixes.append(
                Fix(f"from {node.module} import {error.name} -> from manim import {text}", node.lineno)
            )
    return fixes


def _used(tree: ast.Module, name: str) -> bool:
    return any(isinstance(node, ast.Name) and node.id == name for node in ast.walk(tree))


def _import_line(tree: ast.Module) -> int:
    """The line after the last top-level import (1 when there is none): where a new import goes."""
    imports = [
        node.end_lineno or node.lineno for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
    ]
    return (max(imports) + 1) if imports else 1


def _script_defines(tree: ast.Module, name: str) -> bool:
    """Whether the script itself defines or assigns the attribute `name` (then it is not manim's)."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return True
        if isinstance(node, ast.Attribute) and node.attr == name and isinstance(node.ctx, ast.Store):
            return True
    return False


def _parents(tree: ast.Module) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


# --- facts for the repair prompt -----------------------------------------------------------


def grounding_facts(code: str, failure: RenderFailure, api: ManimApi | None) -> GroundingFacts | None:
    """The real signature, members and nearest names for the repair prompt (None: nothing to add)."""
    error = parse_api_error(failure)
    if error is None:
        return None
    if error.kind == "module":
        hint = install_hint(failure)
        return GroundingFacts(error, install=hint) if hint else None
    if api is None:
        return None
    if error.kind == "attribute":
        owner = (error.owner or "").rsplit(".", 1)[-1]
        members = [name for name in api.members(owner) if not name.startswith("_")]
        constructor = api.constructor(owner)
        nearest = api.nearest(error.name, members, NEAREST, cutoff=PROMPT_CUTOFF)
        return GroundingFacts(
            error,
            constructor.signature if constructor else None,
            _ranked(error.name, members, api.own_methods(owner)),
            nearest,
        )
    if error.kind == "keyword":
        return _keyword_facts(code, error, api)
    return GroundingFacts(
        error,
        _signature_of_nearest(error.name, api),
        [],
        api.nearest(error.name, api.names, NEAREST, cutoff=PROMPT_CUTOFF),
    )


def _ranked(name: str, members: list[str], own: list[str]) -> list[str]:
    """The members worth showing first: sharing a word with `name`, the class's own, then by likeness."""
    words = set(name.lower().split("_")) - {"get", "set", ""}

    def score(member: str) -> tuple[int, bool, float]:
        shared = len(words & set(member.lower().split("_")))
        return (-shared, member not in own, -difflib.SequenceMatcher(None, name, member).ratio())

    return sorted(members, key=score)[:MAX_MEMBERS]


def _keyword_facts(code: str, error: ApiError, api: ManimApi) -> GroundingFacts:
    parts = (error.owner or "").split(".")
    name = parts[-2] if parts[-1] == "__init__" and len(parts) >= 2 else parts[-1]
    callee = _callee_of_keyword(code, error.name) or name
    if api.is_class(callee):
        constructor = api.constructor(callee)
        accepted = sorted(api.accepted_keywords(callee))
        return GroundingFacts(
            error,
            constructor.signature if constructor else None,
            accepted,
            api.nearest(error.name, accepted, NEAREST, cutoff=PROMPT_CUTOFF),
        )
    owners = api.classes_with_method(callee) if callee else []
    method = api.method(owners[0], callee) if owners else None
    accepted = sorted(method.parameters) if method else []
    return GroundingFacts(
        error,
        method.signature if method else None,
        accepted,
        api.nearest(error.name, accepted, NEAREST, cutoff=PROMPT_CUTOFF),
    )


def _callee_of_keyword(code: str, keyword: str) -> str | None:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    names = {
        call_name(node)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and any(k.arg == keyword for k in node.keywords)
    }
    names.discard(None)
    return names.pop() if len(names) == 1 else None


def _signature_of_nearest(name: str, api: ManimApi) -> str | None:
    near = api.nearest(name, api.names, 1)
    if not near:
        return None
    found = api.constructor(near[0]) or api.function(near[0])
    return found.signature if found else None
