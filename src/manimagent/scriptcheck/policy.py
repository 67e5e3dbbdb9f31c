"""The policy table: imports and calls a Manim script has no business making.

A render must not reach the network, start processes, or touch files outside its job;
the sandbox enforces that, and this table says so up front with the line that tried.
"""

from __future__ import annotations

import ast

from manimagent.scriptcheck.findings import Finding

# module (or package prefix) -> why it is refused
FORBIDDEN_MODULES: dict[str, str] = {
    "subprocess": "starts processes",
    "socket": "opens network connections",
    "ssl": "opens network connections",
    "http": "opens network connections",
    "urllib": "opens network connections",
    "requests": "opens network connections",
    "httpx": "opens network connections",
    "aiohttp": "opens network connections",
    "ftplib": "opens network connections",
    "smtplib": "sends mail",
    "telnetlib": "opens network connections",
    "webbrowser": "opens a browser",
    "multiprocessing": "starts processes",
    "pty": "starts processes",
    "ctypes": "calls native code",
    "cffi": "calls native code",
    "shutil": "changes files",
    "pickle": "runs arbitrary code when loading",
    "marshal": "runs arbitrary code when loading",
    "importlib": "imports modules dynamically",
    "builtins": "replaces builtins",
    "code": "runs arbitrary code",
    "signal": "changes signal handling",
    "resource": "changes process limits",
}

# dotted call name -> why it is refused
FORBIDDEN_CALLS: dict[str, str] = {
    "eval": "evaluates arbitrary code",
    "exec": "executes arbitrary code",
    "compile": "compiles arbitrary code",
    "__import__": "imports modules dynamically",
    "breakpoint": "stops for a debugger",
    "input": "waits for keyboard input",
    "globals": "reaches into interpreter state",
    "os.system": "runs shell commands",
    "os.popen": "runs shell commands",
    "os.fork": "starts processes",
    "os.forkpty": "starts processes",
    "os.kill": "signals processes",
    "os.killpg": "signals processes",
    "os.remove": "deletes files",
    "os.unlink": "deletes files",
    "os.rmdir": "deletes files",
    "os.removedirs": "deletes files",
    "os.rename": "moves files",
    "os.replace": "moves files",
    "os.chmod": "changes file permissions",
    "os.chown": "changes file ownership",
    "os.putenv": "changes the environment",
    "os.setuid": "changes the user",
}
FORBIDDEN_CALL_PREFIXES = ("os.exec", "os.spawn", "os.posix_spawn")
WARN_CALLS: dict[str, str] = {
    "open": "reads or writes files; the render runs in an empty job folder",
    "os.environ.get": "reads the environment; a render's environment holds no keys",
    "os.getenv": "reads the environment; a render's environment holds no keys",
}


def dotted_name(node: ast.expr) -> str | None:
    """`a.b.c` for a chain of attributes on a name, else None."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _module_reason(module: str) -> str | None:
    root = module.split(".")[0]
    return FORBIDDEN_MODULES.get(module) or FORBIDDEN_MODULES.get(root)


def _import_findings(node: ast.Import | ast.ImportFrom) -> list[Finding]:
    if isinstance(node, ast.ImportFrom):
        modules = [node.module or ""]
        if node.module == "os":
            modules += [f"os.{alias.name}" for alias in node.names]
    else:
        modules = [alias.name for alias in node.names]
    findings = []
    for module in modules:
        reason = _module_reason(module) if not module.startswith("os.") else _call_reason(module)
        if reason:
            findings.append(
                Finding(
                    "error",
                    "forbidden-import",
                    f"import of {module} is not allowed: it {reason}",
                    node.lineno,
                )
            )
    return findings


def _call_reason(name: str) -> str | None:
    if name in FORBIDDEN_CALLS:
        return FORBIDDEN_CALLS[name]
    if name.startswith(FORBIDDEN_CALL_PREFIXES):
        return "starts processes"
    return None


def _call_findings(node: ast.Call) -> list[Finding]:
    name = dotted_name(node.func)
    if name is None:
        return []
    reason = _call_reason(name)
    if reason:
        return [Finding("error", "forbidden-call", f"{name}() is not allowed: it {reason}", node.lineno)]
    if name in WARN_CALLS:
        return [Finding("warning", "risky-call", f"{name}() {WARN_CALLS[name]}", node.lineno)]
    return []


def policy_findings(tree: ast.Module) -> list[Finding]:
    findings: list[Finding] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            findings += _import_findings(node)
        elif isinstance(node, ast.Call):
            findings += _call_findings(node)
        elif (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("__")
            and node.attr in {"__subclasses__", "__globals__", "__builtins__", "__code__"}
        ):
            findings.append(
                Finding("error", "forbidden-attribute", f"access to {node.attr} is not allowed", node.lineno)
            )
    return sorted(findings, key=lambda finding: finding.line or 0)
