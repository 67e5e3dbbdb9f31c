"""Run as a script in a child process: print the installed manim's API as one JSON document.

Never imported by manimagent (importing manim builds global state); `manim_api.py` runs this file
with the render interpreter and caches what it prints. Standard library and manim only.
"""

import inspect
import json
import sys

MAX_SIGNATURE = 400


def _signature(obj):
    try:
        return str(inspect.signature(obj))[:MAX_SIGNATURE]
    except (TypeError, ValueError):
        return None


def _parameters(obj):
    """(named parameters, takes **kwargs) of a callable, or ([], True) when unknown."""
    try:
        parameters = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        return [], True
    named = [
        p.name for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name != "self"
    ]
    return named, any(p.kind == p.VAR_KEYWORD for p in parameters)


def _member_kind(cls, name):
    try:
        raw = inspect.getattr_static(cls, name)
    except AttributeError:
        return "attribute"
    if isinstance(raw, property):
        return "property"
    if (
        isinstance(raw, (classmethod, staticmethod))
        or inspect.isfunction(raw)
        or inspect.ismethoddescriptor(raw)
    ):
        return "method"
    return "attribute"


def _class_info(cls):
    init_parameters, var_keyword = _parameters(cls.__init__)
    accepted, closed = set(), False
    for base in cls.__mro__:  # what the constructor chain accepts: every __init__ it may pass **kwargs to
        named, more = _parameters(base.__init__) if "__init__" in vars(base) else ([], True)
        accepted.update(named)
        if not more:
            closed = True  # an __init__ without **kwargs: any other keyword raises TypeError
            break
    members = {name: _member_kind(cls, name) for name in dir(cls) if not name.startswith("__")}
    methods = {}
    for name in vars(cls):
        if name.startswith("__") or members.get(name) != "method":
            continue
        function = getattr(cls, name, None)
        signature = _signature(function)
        if signature is not None:
            named, more = _parameters(function)
            methods[name] = {"signature": signature, "parameters": named, "var_keyword": more}
    return {
        "signature": _signature(cls),
        "parameters": init_parameters,
        "var_keyword": var_keyword,
        "accepted": sorted(accepted),
        "closed": closed,
        "bases": [base.__name__ for base in cls.__mro__[1:] if base is not object],
        "members": members,
        "methods": methods,
    }


def main():
    import manim

    classes, functions, constants = {}, {}, []
    for name in dir(manim):
        if name.startswith("__"):
            continue
        value = getattr(manim, name)
        if inspect.isclass(value):
            try:
                classes[name] = _class_info(value)
            except Exception:  # one odd class must not lose the rest
                classes[name] = {
                    "signature": None,
                    "parameters": [],
                    "var_keyword": True,
                    "accepted": [],
                    "bases": [],
                    "members": {},
                    "methods": {},
                }
        elif callable(value) and not inspect.ismodule(value):
            named, more = _parameters(value)
            functions[name] = {"signature": _signature(value), "parameters": named, "var_keyword": more}
        else:
            constants.append(name)
    numpy_callables = sorted(
        name for name in dir(manim.np) if not name.startswith("_") and callable(getattr(manim.np, name))
    )
    document = {
        "version": getattr(manim, "__version__", "unknown"),
        "classes": classes,
        "functions": functions,
        "constants": constants,
        "numpy": numpy_callables,
    }
    sys.stdout.write(json.dumps(document))


if __name__ == "__main__":
    main()
