"""A keyring backend for tests: a JSON file in the test's MANIMAGENT_HOME.

Works across processes (CLI subprocesses see the same keys) and never touches a real keyring.
Selected with PYTHON_KEYRING_BACKEND=file_keyring.TestKeyring and tests/ on PYTHONPATH.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError


class TestKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    @property
    def _file(self) -> Path:
        return Path(os.environ["MANIMAGENT_HOME"]) / "test-keyring.json"

    def _load(self) -> dict[str, str]:
        try:
            return json.loads(self._file.read_text())
        except (OSError, ValueError):
            return {}

    def _save(self, data: dict[str, str]) -> None:
        self._file.parent.mkdir(parents=True, exist_ok=True)
        self._file.write_text(json.dumps(data))

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}\x00{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data[f"{service}\x00{username}"] = password
        self._save(data)

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        if data.pop(f"{service}\x00{username}", None) is None:
            raise PasswordDeleteError("not found")
        self._save(data)
