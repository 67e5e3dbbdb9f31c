"""The operating system's containment of a local render: bubblewrap on Linux, `sandbox-exec` on
macOS, and hard resource limits everywhere.

The static policy check (scriptcheck/policy.py) refuses early and politely; this module is the
boundary. A bubblewrap render has its own user (or, run as root, the `nobody` user), pid, network,
ipc and uts namespaces, so it has no network at all, sees only its own processes, and every process
of the job ends with it. Its filesystem is a read-only view of `/usr`, the interpreter and its
packages, the TeX tree and the fonts, with the job folder as the only writable place (its `tmp/`
is the sandbox's `/tmp`). Inside, the child program (render/child.py) sets the rlimits before
anything of the user's code runs; the parent measures what the job folder holds and kills a render
that writes more than its quota.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from manimagent.errors import BadInput, ConfigError

NOBODY = 65534
JOB_INSIDE = "/job"  # where the job folder is seen inside the sandbox
SANDBOX_ENV = "MANIMAGENT_RENDER_SANDBOX"
# Read by render/child.py before manim is imported, then removed from its environment.
CONTAINMENT_ENV = "MANIMAGENT_CONTAINMENT"
BWRAP_FIX = (
    'install bubblewrap (apt-get install bubblewrap), or set render.sandbox = "none" to accept'
    " uncontained renders"
)
USERNS_FIX = (
    "allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, or"
    " kernel.apparmor_restrict_unprivileged_userns=0), or run in a VM or a privileged container"
)

# Read-only, when present: TeX's generated formats and configuration, fonts, the loader's cache.
ETC_AND_VAR = (
    "/etc/fonts",
    "/etc/texmf",
    "/var/lib/texmf",
    "/var/cache/fontconfig",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/localtime",
    "/etc/papersize",
)
MERGED_USR = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


class SandboxMode(StrEnum):
    AUTO = "auto"
    BWRAP = "bwrap"
    NONE = "none"


@dataclass(frozen=True)
class Limits:
    """Hard limits of one render; 0 means no limit."""

    memory: int = 4 << 30  # address space, bytes
    max_processes: int = 256  # processes and threads
    max_output: int = 2 << 30  # bytes the job folder may hold, and the largest file
    open_files: int = 1024

    def rlimits(self) -> dict[str, int]:
        named = {
            "RLIMIT_AS": self.memory,
            "RLIMIT_NPROC": self.max_processes,
            "RLIMIT_FSIZE": self.max_output,
            "RLIMIT_NOFILE": self.open_files,
        }
        return {"RLIMIT_CORE": 0, **{name: value for name, value in named.items() if value > 0}}


@dataclass(frozen=True)
class SandboxPolicy:
    mode: SandboxMode = SandboxMode.AUTO
    limits: Limits = field(default_factory=Limits)


@dataclass(frozen=True)
class Containment:
    """How a render is (or would be) contained: `bwrap`, `sandbox-exec` or `rlimits` (limits alone)."""

    kind: str
    reason: str | None = None  # why there is no sandbox
    fix: str | None = None

    @property
    def sandboxed(self) -> bool:
        return self.kind != "rlimits"


SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1 << 10,
    "kb": 1000,
    "kib": 1 << 10,
    "m": 1 << 20,
    "mb": 1000**2,
    "mib": 1 << 20,
    "g": 1 << 30,
    "gb": 1000**3,
    "gib": 1 << 30,
    "t": 1 << 40,
    "tib": 1 << 40,
}


def parse_size(value: object, name: str) -> int:
    """`4GiB`, `512M`, `2000000` -> bytes; `0` or `none` for no limit."""
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be a size like 4GiB, got {value!r}", hint="Fix the value")
    if isinstance(value, int | float):
        return int(value)
    text = str(value).strip().lower().replace(" ", "")
    if text in {"none", "unlimited"}:
        return 0
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([a-z]*)", text)
    if not match or match.group(2) not in SIZE_UNITS:
        raise ConfigError(f"{name} must be a size like 4GiB or 512MiB, got {value!r}", hint="Fix the value")
    return int(float(match.group(1)) * SIZE_UNITS[match.group(2)])


# Set on the settings of `serve` unless server.allow_unsandboxed_renders: no render there runs
# uncontained, so `auto` means `bwrap` and `none` is refused.
REQUIRE_SANDBOX = "render_require_sandbox"
SERVE_FIX = (
    "set server.allow_unsandboxed_renders = true to accept uncontained renders, or use the docker engine"
)


def policy_from_settings(settings) -> SandboxPolicy:
    raw_mode = (settings.render_sandbox or "auto").strip().lower()
    try:
        mode = SandboxMode(raw_mode)
    except ValueError:
        raise BadInput(
            f"render.sandbox must be auto, bwrap or none, got {raw_mode!r}",
            hint=f"Fix config.toml or {SANDBOX_ENV}",
        ) from None
    if settings.values.get(REQUIRE_SANDBOX):
        if mode is SandboxMode.NONE:
            raise ConfigError("serve does not run local renders with render.sandbox = none", hint=SERVE_FIX)
        mode = SandboxMode.BWRAP
    limits = Limits(
        memory=parse_size(settings.render_memory, "render.memory"),
        max_processes=settings.render_max_processes,
        max_output=parse_size(settings.render_max_output, "render.max_output"),
        open_files=settings.render_open_files,
    )
    return SandboxPolicy(mode, limits)


# ---------------------------------------------------------------- what the render may read


def _python_paths(python: str) -> list[Path]:
    """The interpreter's prefixes and its import path, as this process sees them."""
    if Path(python).resolve() != Path(sys.executable).resolve():
        return _paths_of_other_python(python)
    wanted = {
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        sys.base_exec_prefix,
        os.path.dirname(sys.executable),
    }
    # the import path, less what PYTHONPATH and the working folder add (the render gets neither)
    skipped = {
        os.path.abspath(entry) for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry
    }
    skipped.add(os.getcwd())
    wanted |= {entry for entry in sys.path if entry and os.path.abspath(entry) not in skipped}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        wanted.add(sysconfig.get_paths().get(key, ""))
    return _existing(wanted)


def _paths_of_other_python(python: str) -> list[Path]:
    script = (
        "import json,sys,os;print(json.dumps([sys.prefix,sys.base_prefix,sys.exec_prefix,"
        "os.path.dirname(sys.executable),*[p for p in sys.path if p]]))"
    )
    try:
        found = json.loads(
            subprocess.run(
                [python, "-c", script], capture_output=True, text=True, timeout=30, check=True
            ).stdout
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        found = []
    return _existing({*found, os.path.dirname(python)})


def _existing(candidates: set[str]) -> list[Path]:
    found: set[Path] = set()
    for entry in candidates:
        if not entry:
            continue
        for path in {Path(entry), Path(entry).resolve()}:
            if path.is_dir() and path.is_absolute() and path != Path("/"):
                found.add(path)
    return _outermost(found)


def _outermost(paths: set[Path]) -> list[Path]:
    """Drop every path that lies inside another one of the set (binding the outer one is enough)."""
    ordered = sorted(paths, key=lambda p: len(p.parts))
    kept: list[Path] = []
    for path in ordered:
        if not any(path.is_relative_to(outer) for outer in kept):
            kept.append(path)
    return kept


def _own_source() -> Path:
    """The folder manimagent itself is imported from: a render has no use for it."""
    return Path(__file__).resolve().parents[2]


def readable_paths(python: str) -> list[Path]:
    """Everything a render may read besides `/usr`: the interpreter, TeX, fonts (outermost first)."""
    own = _own_source()
    prefixes = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    paths = [
        p
        for p in _python_paths(python)
        if not p.is_relative_to("/usr")
        and not (p.resolve() == own and not any(own.is_relative_to(prefix) for prefix in prefixes))
    ]
    return paths + [Path(p) for p in ETC_AND_VAR if os.path.exists(p)]


# ---------------------------------------------------------------- bubblewrap


def bwrap_arguments(bwrap: str, job: Path, python: str, *, as_root: bool) -> list[str]:
    """The bubblewrap command line that runs a command inside the sandbox, with `job` writable.

    Unprivileged, bubblewrap makes a user namespace (the render's uid maps to the caller's).
    As root it needs none; the child then drops to `nobody` itself before any user code runs
    (render/child.py), so that the process limit applies and no file of root's is writable.
    """
    args = [bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if not as_root:
        args.append("--unshare-user")
    else:
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]  # only to become nobody
    args += ["--die-with-parent", "--new-session", "--hostname", "manimagent-render"]
    # /tmp first: a bind below it (an interpreter under /tmp) must land on top of it, not under it
    args += ["--bind", str(job / "tmp"), "/tmp", "--ro-bind", "/usr", "/usr"]
    for top in MERGED_USR:
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    made: set[Path] = set()
    for path in readable_paths(python):
        for parent in reversed(path.parents[:-1]):  # traversable on the way, whatever the host's modes
            if parent not in made:
                made.add(parent)
                args += ["--perms", "0755", "--dir", str(parent)]
        args += ["--ro-bind", str(path), str(path)]
    args += ["--proc", "/proc", "--dev", "/dev", "--remount-ro", "/dev"]
    args += ["--bind", str(job), JOB_INSIDE, "--chdir", JOB_INSIDE]
    args += ["--remount-ro", "/"]
    return args


def _bwrap_path() -> str | None:
    return shutil.which("bwrap")


def _userns_blocker() -> str | None:
    """Why unprivileged user namespaces are off on this kernel, when a sysctl says so."""
    checks = {
        "/proc/sys/kernel/unprivileged_userns_clone": "0",
        "/proc/sys/user/max_user_namespaces": "0",
        "/proc/sys/kernel/apparmor_restrict_unprivileged_userns": "1",
    }
    for path, blocked in checks.items():
        try:
            if Path(path).read_text().strip() == blocked:
                return f"{path} is {blocked}"
        except OSError:
            continue
    return None


# ---------------------------------------------------------------- macOS


def macos_profile(job: Path, python: str, extra_reads: list[Path] | None = None) -> str:
    """A `sandbox-exec` profile with the same policy as the Linux sandbox: no network, writes only
    to the job folder, reads limited to the system, the interpreter, TeX and fonts."""
    reads = [
        "/usr",
        "/System",
        "/Library/Fonts",
        "/Library/TeX",
        "/usr/local/texlive",
        "/opt/homebrew",
        "/usr/local",
        "/private/etc",
        "/private/var/db/timezone",
        "/dev",
    ]
    reads += [str(path) for path in [*_python_paths(python), *(extra_reads or [])]]
    quoted = lambda path: json.dumps(str(path))  # noqa: E731 - a profile string is a JSON-compatible literal
    readable = " ".join(f"(subpath {quoted(path)})" for path in reads)
    lines = [
        "(version 1)",
        "(deny default)",
        "(deny network*)",
        "(allow process-fork)",
        "(allow signal (target same-sandbox))",
        "(allow sysctl-read)",
        '(allow mach-lookup (global-name "com.apple.fonts") (global-name "com.apple.FontObjectsServer"))',
        "(allow ipc-posix-shm-read-data ipc-posix-shm-write-data)",
        "(allow file-read-metadata)",
        f"(allow process-exec {readable})",
        f"(allow file-read* {readable} (subpath {quoted(job)}))",
        f'(allow file-write* (subpath {quoted(job)}) (literal "/dev/null"))',
    ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- the whole wrap


@dataclass
class Wrapped:
    """A render command as it will be started: the argv, extra environment, and its containment."""

    argv: list[str]
    env: dict[str, str]
    containment: Containment


def wrap(
    command: list[str],
    job: Path,
    python: str,
    policy: SandboxPolicy,
    ready_fd: int | None = None,
    *,
    rlimits: dict[str, int] | None = None,
    read_only: tuple[tuple[Path, str], ...] = (),
) -> Wrapped:
    """`command` contained by the sandbox this machine offers under `policy` (limits always).
    The command runs in the job folder (inside bubblewrap it is `/job`, with `/tmp` its `tmp/`).

    The child reports on `ready_fd` once its containment holds, before any user code runs.
    `rlimits` replaces the policy's (a pool agent carries its jobs' limits per job instead);
    `read_only` adds (host path, path inside) binds."""
    chosen = policy.limits.rlimits() if rlimits is None else rlimits
    settings: dict[str, object] = {"rlimits": chosen, "ready_fd": ready_fd}
    containment = choose(policy)
    env = {CONTAINMENT_ENV: json.dumps(settings)}
    if containment.kind == "bwrap":
        as_root = os.geteuid() == 0
        if as_root:
            settings.update(uid=NOBODY, gid=NOBODY)
            env[CONTAINMENT_ENV] = json.dumps(settings)
            _hand_to(job, NOBODY)
        argv = bwrap_arguments(_bwrap_path() or "bwrap", job, python, as_root=as_root)
        for source, inside in read_only:  # before the final --remount-ro /, on a traversable folder
            argv[-2:-2] = [
                "--perms",
                "0755",
                "--dir",
                str(Path(inside).parent),
                "--ro-bind",
                str(source),
                inside,
            ]
        env.update(HOME=JOB_INSIDE, TMPDIR="/tmp")
        return Wrapped([*argv, "--", *command], env, containment)
    if containment.kind == "sandbox-exec":
        profile = macos_profile(job, python, extra_reads=[source for source, _ in read_only])
        return Wrapped(["/usr/bin/sandbox-exec", "-p", profile, *command], env, containment)
    return Wrapped(list(command), env, containment)


_broken: dict[SandboxMode, Containment] = {}


def broken(policy: SandboxPolicy, log: str) -> Containment:
    """The sandbox failed to start (its child never reported): remember why for this process, and
    give the fallback (limits alone) under `auto`; raise under `bwrap`."""
    reason, fix = failure_reason(log)
    fallback = unsandboxed(policy, reason, fix)
    _broken[policy.mode] = fallback
    return fallback


def unsandboxed(policy: SandboxPolicy, reason: str, fix: str) -> Containment:
    """The fallback when the sandbox failed to start: limits alone under `auto`, an error otherwise."""
    if policy.mode is SandboxMode.BWRAP:
        raise ConfigError(
            f"the render sandbox is not available, so the render was not started: {reason}", hint=fix
        )
    return Containment("rlimits", reason, fix)


def choose(policy: SandboxPolicy) -> Containment:
    """What the policy gives on this machine, as far as can be told without starting anything."""
    if policy.mode is SandboxMode.NONE:
        return Containment("rlimits", "render.sandbox is none", 'set render.sandbox = "auto"')
    if policy.mode in _broken:
        return _broken[policy.mode]
    if sys.platform == "darwin":
        if os.path.exists("/usr/bin/sandbox-exec"):
            return Containment("sandbox-exec")
        return unsandboxed(policy, "/usr/bin/sandbox-exec is missing", "use macOS 10.5 or later")
    if not sys.platform.startswith("linux"):
        return unsandboxed(policy, f"no sandbox is supported on {sys.platform}", "use the docker engine")
    if _bwrap_path() is None:
        return unsandboxed(policy, "bubblewrap (bwrap) is not installed", BWRAP_FIX)
    if os.geteuid() != 0 and (blocker := _userns_blocker()):
        return unsandboxed(policy, f"user namespaces are disabled ({blocker})", USERNS_FIX)
    return Containment("bwrap")


def _hand_to(job: Path, uid: int) -> None:
    """Make the job folder (and its tmp/) the sandbox user's, so the render can write only there."""
    for path in (job, job / "tmp"):
        path.mkdir(exist_ok=True)
        os.chown(path, uid, uid)
    for entry in job.iterdir():
        if entry.is_file():
            os.chown(entry, uid, uid)


def failure_reason(log: str) -> tuple[str, str]:
    """Why bubblewrap could not set the sandbox up, from its first output lines, and the fix."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    message = next(
        (line for line in lines if line.startswith("bwrap:")),
        lines[-1] if lines else "the sandbox exited at once",
    )
    if "namespace" in message or "Operation not permitted" in message or "Permission denied" in message:
        return message, USERNS_FIX
    return message, BWRAP_FIX
