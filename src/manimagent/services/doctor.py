"""`doctor`: what this machine can do, each missing piece with its fix."""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from importlib import metadata

from manimagent.schemas import DoctorCheck, DoctorReport
from manimagent.settings import Settings, load_settings

APT_RENDER = (
    "apt-get install libcairo2-dev libpango1.0-dev pkg-config"
    " (macOS: brew install cairo pango pkg-config), then reinstall manimagent"
)
KEYRING_FIX = (
    "For encrypted storage run a Secret Service keyring (e.g. gnome-keyring) or KWallet, "
    "or keep API keys in env vars (OPENAI_API_KEY, GEMINI_API_KEY, ANTHROPIC_API_KEY, or --api-key-env)"
)
APT_LATEX = (
    "apt-get install texlive-latex-base texlive-latex-extra texlive-latex-recommended"
    " texlive-fonts-recommended dvisvgm (macOS: brew install --cask basictex)"
)


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _module_check(name: str, module: str, package: str, fix: str) -> DoctorCheck:
    found = importlib.util.find_spec(module) is not None
    version = _version(package)
    return DoctorCheck(
        name=name,
        ok=found,
        detail=f"{package} {version}" if found else f"{package} not importable",
        fix=None if found else fix,
    )


def _latex_check() -> DoctorCheck:
    tools = {tool: shutil.which(tool) for tool in ("latex", "dvisvgm")}
    missing = [tool for tool, path in tools.items() if not path]
    if missing:
        return DoctorCheck(
            name="latex",
            ok=False,
            required=False,
            detail=f"missing {', '.join(missing)}: MathTex/Tex will not render (Text still does)",
            fix=APT_LATEX,
        )
    return DoctorCheck(
        name="latex", ok=True, required=False, detail=f"latex {tools['latex']}, dvisvgm {tools['dvisvgm']}"
    )


def _home_check(settings: Settings) -> DoctorCheck:
    home = settings.paths.data
    try:
        home.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=home):
            pass
    except OSError as exc:
        return DoctorCheck(
            name="home",
            ok=False,
            detail=f"{home} is not writable: {exc.strerror}",
            fix="Set MANIMAGENT_HOME to a writable folder",
        )
    return DoctorCheck(name="home", ok=True, detail=str(home))


def _keyring_check() -> DoctorCheck:
    """Where secrets go: a real keyring is ok; a plaintext keyring or the 0600 file is a warning."""
    from manimagent.errors import ConfigError
    from manimagent.keys import SecretStorage, backend_name, is_plaintext, secret_storage

    try:
        storage: SecretStorage = secret_storage()
    except ConfigError as exc:
        return DoctorCheck(
            name="keyring", ok=False, required=False, detail=f"no keyring, and {exc.message}", fix=KEYRING_FIX
        )
    if storage.kind == "file":
        return DoctorCheck(
            name="keyring",
            ok=False,
            required=False,
            detail=f"no keyring: secrets are kept in {storage.detail} (mode 0600)",
            fix=KEYRING_FIX,
        )
    import keyring

    backend = keyring.get_keyring()
    if is_plaintext(backend):
        return DoctorCheck(
            name="keyring",
            ok=False,
            required=False,
            detail=f"{backend_name(backend)} keeps secrets unencrypted on disk",
            fix=KEYRING_FIX,
        )
    return DoctorCheck(name="keyring", ok=True, required=False, detail=storage.detail)


def _sandbox_check(settings: Settings) -> DoctorCheck:
    """Start a contained child as a local render would, and report what contained it."""
    import sys

    from manimagent.errors import ManimagentError
    from manimagent.render.process import probe
    from manimagent.render.sandbox import policy_from_settings

    try:
        policy = policy_from_settings(settings)
        found = probe(sys.executable, policy)
    except ManimagentError as exc:
        return DoctorCheck(name="sandbox", ok=False, required=False, detail=exc.message, fix=exc.hint)
    limits = policy.limits
    detail = (
        f"{found.kind} (render.sandbox = {policy.mode.value}); limits: memory {limits.memory >> 20} MiB,"
        f" {limits.max_processes} processes, output {limits.max_output >> 20} MiB"
    )
    if not found.sandboxed:
        detail = f"{found.kind} only: {found.reason}; {detail}"
    return DoctorCheck(
        name="sandbox",
        ok=found.sandboxed,
        required=False,
        detail=detail,
        fix=found.fix if not found.sandboxed else None,
    )


def _docker_checks() -> list[DoctorCheck]:
    try:
        from manimagent.services.containers import doctor_checks
    except ImportError:
        return []
    return doctor_checks()


def run_doctor(settings: Settings | None = None) -> DoctorReport:
    settings = settings or load_settings()
    checks = [
        _module_check("manim", "manim", "manim", "pip install manim"),
        _module_check("cairo", "cairo", "pycairo", APT_RENDER),
        _module_check("pango", "manimpango", "manimpango", APT_RENDER),
        _module_check("video", "av", "av", "pip install av (PyAV brings its own ffmpeg)"),
        _latex_check(),
        _sandbox_check(settings),
        *_docker_checks(),
        _keyring_check(),
        _home_check(settings),
        DoctorCheck(
            name="debug",
            ok=True,
            required=False,
            detail="MANIMAGENT_DEBUG is set" if os.environ.get("MANIMAGENT_DEBUG") else "off",
        ),
    ]
    return DoctorReport(ok=all(check.ok for check in checks if check.required), checks=checks)
