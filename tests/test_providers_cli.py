"""`manimagent providers ...`: configuration, keys in the keyring only, test requests, bad input."""

from __future__ import annotations

import io
import sqlite3

import pytest

from conftest import assert_one_line_error, run_cli_process
from fakellm import fake_llm, fake_llm_server  # noqa: F401 - fixtures


def _stdin(monkeypatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


def test_add_list_update_remove(cli):
    added = cli(
        "providers",
        "add",
        "local-llm",
        "--type",
        "openai",
        "--base-url",
        "http://127.0.0.1:11434/v1",
        "--model",
        "llama3",
        "--priority",
        "5",
        "--json",
    ).json()
    assert added["key_source"] == "not needed" and added["priority"] == 5
    cli("providers", "add", "gem", "--type", "gemini", "--api-key-env", "MY_GEM_KEY")
    rows = cli("providers", "list", "--json").json()
    assert [row["name"] for row in rows] == ["local-llm", "gem"]
    assert set(rows[0]) >= {
        "id",
        "name",
        "provider_type",
        "model_name",
        "base_url",
        "priority",
        "is_active",
        "key_source",
    }
    updated = cli("providers", "update", "gem", "--inactive", "--priority", "1", "--json").json()
    assert updated["is_active"] is False and updated["priority"] == 1
    assert cli("providers", "remove", str(added["id"])).code == 0
    assert [row["name"] for row in cli("providers", "list", "--json").json()] == ["gem"]


def test_key_sources_and_set_key(cli, monkeypatch, isolated_home):
    cli("providers", "add", "oa", "--type", "openai", "--api-key-env", "TEAM_OPENAI_KEY")
    assert cli("providers", "list", "--json").json()[0]["key_source"] == "none"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-vendor")
    assert cli("providers", "list", "--json").json()[0]["key_source"] == "env OPENAI_API_KEY"
    monkeypatch.setenv("TEAM_OPENAI_KEY", "sk-team")
    assert cli("providers", "list", "--json").json()[0]["key_source"] == "env TEAM_OPENAI_KEY"
    _stdin(monkeypatch, "sk-keyring-SECRET\n")
    assert cli("providers", "set-key", "oa", "--stdin").code == 0
    listed = cli("providers", "list", "--json")
    assert listed.json()[0]["key_source"] == "keyring" and "sk-keyring-SECRET" not in listed.stdout
    dump = "\n".join(str(row) for row in sqlite3.connect(isolated_home / "manimagent.db").iterdump())
    assert "sk-keyring-SECRET" not in dump


def test_add_with_key_on_stdin(cli, monkeypatch):
    _stdin(monkeypatch, "sk-from-stdin\n")
    row = cli("providers", "add", "oa", "--type", "openai", "--key-stdin", "--json").json()
    assert row["key_source"] == "keyring"


@pytest.mark.parametrize(
    "args, code",
    [
        (["providers", "add", "x", "--type", "llamafarm"], 2),
        (["providers", "add", "bad name!", "--type", "openai"], 2),
        (["providers", "add", "x", "--type", "openai", "--base-url", "ftp://nope"], 2),
        (["providers", "add", "x", "--type", "openai", "--api-key-env", "NOT A VAR"], 2),
        (["providers", "add", "x", "--type", "openai", "--priority", "99999"], 2),
        (["providers", "add", "x"], 2),
        (["providers", "update", "ghost", "--priority", "1"], 2),
        (["providers", "remove", "ghost"], 2),
        (["providers", "test", "ghost"], 2),
        (["providers", "set-key", "ghost", "--stdin"], 2),
    ],
)
def test_bad_input(cli, monkeypatch, args, code):
    _stdin(monkeypatch, "sk-x\n")
    assert_one_line_error(cli(*args), code)


def test_duplicate_name_is_refused_and_keeps_the_first(cli):
    cli("providers", "add", "dup", "--type", "openai", "--model", "first")
    assert_one_line_error(cli("providers", "add", "dup", "--type", "gemini"), 2)
    assert cli("providers", "list", "--json").json()[0]["model_name"] == "first"


def test_empty_key_is_refused(cli, monkeypatch):
    cli("providers", "add", "oa", "--type", "openai")
    _stdin(monkeypatch, "\n")
    assert_one_line_error(cli("providers", "set-key", "oa", "--stdin"), 2)


def test_no_keyring_backend_points_to_env_vars(isolated_home):
    """Without a keyring the key goes to the 0600 secrets file; where that cannot be written
    either, the error points to environment variables, before any key is read."""
    run_cli_process("providers", "add", "oa", "--type", "openai")
    (isolated_home / "secrets.json").mkdir()  # not a file that can be written
    result = run_cli_process(
        "providers",
        "set-key",
        "oa",
        "--stdin",
        input="sk-abc\n",
        env={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"},
    )
    assert_one_line_error(result, 3)
    assert "environment variable" in result.stderr


def test_provider_test_reports_model_and_latency(cli, fake_llm):  # noqa: F811
    cli(
        "providers",
        "add",
        "fake",
        "--type",
        "openai",
        "--base-url",
        fake_llm.base_url_for("openai"),
        "--model",
        "m-1",
    )
    fake_llm.enqueue(text="ok")
    doc = cli("providers", "test", "fake", "--json").json()
    assert doc["success"] and doc["model"] == "m-1" and doc["latency_ms"] > 0
    fake_llm.enqueue(status=401)
    failed = cli("providers", "test", "fake", "--json")
    assert failed.code == 1 and failed.json()["error"].startswith("auth")
