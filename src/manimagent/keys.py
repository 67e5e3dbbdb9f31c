"""Secrets: API keys and login tokens in the OS keyring, or, where there is none (headless Linux,
containers, WSL), in one 0600 file under the home, as `gh` and `llm` do. And the one key lookup
(stored key, then the provider's env var, then the vendor's).

Keys are never written to the database, logged, or passed to a render.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from manimagent.errors import ConfigError

KEYRING_SERVICE = "manimagent"
SECRETS_FILE_NAME = "secrets.json"
NO_KEYRING_HINT = (
    "Make the home folder writable (or set MANIMAGENT_HOME), or put the key in an environment variable "
    "instead (e.g. OPENAI_API_KEY, or name one with `providers update NAME --api-key-env VAR`)"
)
# keyring backends that keep secrets unencrypted on disk (keyrings.alt): usable, but worth a warning
PLAINTEXT_BACKENDS = ("keyrings.alt",)


@dataclass(frozen=True)
class KeyLookup:
    key: str | None
    source: str  # "keyring", "file", "env VAR", or "none"


@dataclass(frozen=True)
class SecretStorage:
    """Where `store_secret` puts a secret on this machine."""

    kind: str  # "keyring" or "file"
    detail: str  # the keyring backend's name, or the file's path

    @property
    def notice(self) -> str | None:
        """The one line to show when a secret goes to the file."""
        if self.kind != "file":
            return None
        return f"No keyring on this machine: secrets are kept in {self.detail} (readable only by you)"

    @property
    def where(self) -> str:
        return "the keyring" if self.kind == "keyring" else self.detail


# ---- the keyring ------------------------------------------------------------------------------


def _usable_keyring() -> Any | None:
    """The keyring backend when one can store secrets here, else None."""
    try:
        import keyring
        from keyring.backends import chainer, fail
    except ImportError:
        return None
    try:
        backend = keyring.get_keyring()
    except Exception:  # noqa: BLE001 - a broken backend is no backend
        return None
    if isinstance(backend, fail.Keyring):
        return None
    if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
        return None
    return backend


def backend_name(backend: Any) -> str:
    return f"{type(backend).__module__}.{type(backend).__name__}"


def is_plaintext(backend: Any) -> bool:
    return backend_name(backend).startswith(PLAINTEXT_BACKENDS)


def _keyring_get(service: str, user: str) -> str | None:
    backend = _usable_keyring()
    if backend is None:
        return None
    try:
        return backend.get_password(service, user)
    except Exception:  # noqa: BLE001 - locked, no session bus, refused: nothing stored there
        return None


def _keyring_set(service: str, user: str, value: str) -> bool:
    backend = _usable_keyring()
    if backend is None:
        return False
    try:
        backend.set_password(service, user, value)
    except Exception:  # noqa: BLE001 - locked or refused: the file takes it
        return False
    return True


def _keyring_delete(service: str, user: str) -> None:
    backend = _usable_keyring()
    if backend is None:
        return
    try:
        backend.delete_password(service, user)
    except Exception:  # noqa: BLE001 - nothing to delete
        pass


# ---- the file ----------------------------------------------------------------------------------


def secrets_file() -> Path:
    from manimagent.paths import get_paths

    return get_paths().config / SECRETS_FILE_NAME


def _read_file(path: Path) -> dict[str, dict[str, str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_file(path: Path, data: dict[str, dict[str, str]]) -> None:
    """Replace the file atomically; it is created 0600 and never exists with wider rights."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
    except (AttributeError, OSError):
        pass
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
    os.replace(temporary, path)


def _file_writable(path: Path) -> bool:
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK | os.X_OK) and (
        not path.exists() or (path.is_file() and os.access(path, os.W_OK))
    )


# ---- one interface ------------------------------------------------------------------------------


def secret_storage() -> SecretStorage:
    """Where a secret would go now; ConfigError when nowhere (ask for a key only after this)."""
    backend = _usable_keyring()
    if backend is not None:
        return SecretStorage("keyring", backend_name(backend))
    path = secrets_file()
    if not _file_writable(path):
        raise ConfigError(f"no keyring here and {path} cannot be written", hint=NO_KEYRING_HINT)
    return SecretStorage("file", str(path))


def get_secret(service: str, user: str) -> tuple[str | None, str]:
    """The stored secret and where it was found ("keyring", "file", or "none")."""
    value = _keyring_get(service, user)
    if value:
        return value, "keyring"
    value = _read_file(secrets_file()).get(service, {}).get(user)
    return (value, "file") if value else (None, "none")


def store_secret(service: str, user: str, value: str) -> SecretStorage:
    """Keep a secret in the keyring, else in the 0600 file; says where it went."""
    storage = secret_storage()
    if storage.kind == "keyring" and _keyring_set(service, user, value):
        _forget_in_file(service, user)
        return storage
    path = secrets_file()
    data = _read_file(path)
    data.setdefault(service, {})[user] = value
    try:
        _write_file(path, data)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}", hint=NO_KEYRING_HINT) from exc
    return SecretStorage("file", str(path))


def delete_secret(service: str, user: str) -> None:
    _keyring_delete(service, user)
    _forget_in_file(service, user)


def _forget_in_file(service: str, user: str) -> None:
    path = secrets_file()
    data = _read_file(path)
    if data.get(service, {}).pop(user, None) is None:
        return
    try:
        _write_file(path, {name: users for name, users in data.items() if users})
    except OSError:
        pass


# ---- provider keys ------------------------------------------------------------------------------


def lookup_key(provider_name: str, api_key_env: str | None, vendor_envs: tuple[str, ...]) -> KeyLookup:
    """Find a provider's key: the stored one, then its `api_key_env`, then the vendor's env vars."""
    stored, source = get_secret(KEYRING_SERVICE, provider_name)
    if stored:
        return KeyLookup(stored, source)
    for var in (api_key_env, *vendor_envs):
        if var and os.environ.get(var):
            return KeyLookup(os.environ[var], f"env {var}")
    return KeyLookup(None, "none")


def store_key(provider_name: str, key: str) -> SecretStorage:
    return store_secret(KEYRING_SERVICE, provider_name, key)


def delete_key(provider_name: str) -> None:
    delete_secret(KEYRING_SERVICE, provider_name)


def keyring_backend_name() -> str:
    backend = _usable_keyring()
    return backend_name(backend) if backend is not None else "none"
