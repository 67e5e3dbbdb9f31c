"""`--json` failures: one JSON document on stdout, `{"success": false, "error": ...}` (the REST
body, plus `success`), an `Error:` line on stderr, and the exit code the command always had."""

from __future__ import annotations

import json

import pytest

from conftest import EXAMPLES, assert_one_line_error, run_cli_process
from server_fixtures import server  # noqa: F401 - fixture


def _failure(result, code: int) -> dict:
    assert_one_line_error(result, code)
    doc = json.loads(result.stdout)  # exactly one document
    assert doc["success"] is False and doc["error"].endswith(".")
    return doc


def test_bad_input_prints_the_failure_document_with_exit_2(cli, tmp_path):
    assert "abcd1234" in _failure(cli("scripts", "show", "abcd1234", "--json"), 2)["error"]
    empty = tmp_path / "empty.py"
    empty.write_text("")
    assert _failure(cli("render", str(empty), "--json"), 2)["error"]
    assert _failure(cli("scripts", "list", "--limit", "0", "--json"), 2)["error"]
    assert _failure(cli("executions", "show", "zzzz", "--json"), 2)["error"]


def test_without_json_stdout_stays_empty(cli):
    result = cli("scripts", "show", "abcd1234")
    assert result.code == 2 and result.stdout == ""


def test_a_configuration_failure_keeps_exit_3(tmp_path):
    home = tmp_path / "a-file"
    home.write_text("x")
    doc = _failure(run_cli_process("scripts", "list", "--json", env={"MANIMAGENT_HOME": str(home)}), 3)
    assert str(home) in doc["error"] and doc["hint"]


def test_a_success_is_unchanged(cli):
    result = cli("scripts", "import", str(EXAMPLES / "circle.py"), "--json")
    assert result.code == 0 and "success" not in json.loads(result.stdout)


@pytest.mark.server
def test_a_server_failure_prints_the_rest_body(server, cli, monkeypatch):
    import io

    account = server.account()
    monkeypatch.setattr("sys.stdin", io.StringIO(account.password + "\n"))
    assert (
        cli("auth", "login", "--email", account.email, "--password-stdin", "--server", server.url).code == 0
    )
    rest = server.get("/api/agents/scripts/abcd1234/", headers=account.headers)
    assert rest.status_code == 404
    doc = _failure(cli("scripts", "show", "abcd1234", "--server", server.url, "--json"), 2)
    assert {key: value for key, value in doc.items() if key != "success"} == rest.json()
    local = _failure(cli("scripts", "show", "abcd1234", "--json"), 2)
    assert local["error"] == doc["error"]
