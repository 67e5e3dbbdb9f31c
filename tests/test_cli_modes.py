"""The scripts/executions/generate CLI flows in both modes: on the local store, and with --server against
a real `manimagent serve` (one per module, a user registered, verified and logged in through the CLI).
Both modes print the same --json documents and fail with the same exit codes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import EXAMPLES, CliResult, assert_one_line_error, run_cli_process
from server_fixtures import PASSWORD, free_port, server, server_env  # noqa: F401 - fixture

MODES = ["local", pytest.param("server", marks=pytest.mark.server)]
ADDRESS = "cli-modes@example.com"
CIRCLE = EXAMPLES / "circle.py"


def _fields(model_name: str) -> set[str]:
    """The keys of a --json document: the fields of its shared schema (schemas.py)."""
    from manimagent import schemas

    return set(getattr(schemas, model_name).model_fields)


@dataclass
class Manimagent:
    """Runs the CLI in this process, in one mode: `manimagent("scripts", "list", "--json")`."""

    cli: object
    mode: str
    extra: list[str] = field(default_factory=list)

    def __call__(self, *args: str) -> CliResult:
        return self.cli(*args, *self.extra)

    def json(self, *args: str):
        result = self(*args, "--json")
        assert result.code == 0, (args, result.stderr)
        return result.json()


@pytest.fixture(scope="module")
def account(server, tmp_path_factory) -> str:  # noqa: F811
    """An account on the module's server, registered and verified with the CLI in a child process."""
    env = server_env(
        tmp_path_factory.mktemp("cli-modes-client"), {"PYTHON_KEYRING_BACKEND": "file_keyring.TestKeyring"}
    )
    registered = run_cli_process(
        "auth",
        "register",
        "--email",
        ADDRESS,
        "--password-stdin",
        "--server",
        server.url,
        input=PASSWORD + "\n",
        env=env,
    )
    assert registered.code == 0, registered.stderr
    verified = run_cli_process(
        "auth", "verify-email", server.outbox_token(ADDRESS), "--server", server.url, env=env
    )
    assert verified.code == 0, verified.stderr
    return ADDRESS


def _log_in(cli, monkeypatch, url: str, address: str) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    result = cli("auth", "login", "--email", address, "--password-stdin", "--server", url)
    assert result.code == 0, result.stderr


@pytest.fixture
def manimagent(mode: str, request, cli, monkeypatch) -> Manimagent:
    """The CLI as is ("local"), or logged in to the module's server with `--server URL` appended
    ("server")."""
    if mode == "local":
        return Manimagent(cli, mode)
    live, address = request.getfixturevalue("server"), request.getfixturevalue("account")
    _log_in(cli, monkeypatch, live.url, address)
    return Manimagent(cli, mode, ["--server", live.url])


def _without_keys(docs, *keys: str):
    if isinstance(docs, list):
        return [_without_keys(doc, *keys) for doc in docs]
    return {key: value for key, value in docs.items() if key not in keys}


# ---- the flows ---------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_scripts_and_executions_flow(manimagent, mode, tmp_path):
    script = manimagent.json("scripts", "import", str(CIRCLE))
    assert set(script) == _fields("ScriptPublic")
    assert (
        script["status"] == "pending"
        and script["scenes"] == ["CircleToSquare"]
        and script["content"] == CIRCLE.read_text()
    )
    listed = manimagent.json("scripts", "list")
    assert script["id"] in [row["id"] for row in listed] and all(
        set(row) == _fields("ScriptSummary") for row in listed
    )
    assert manimagent.json("scripts", "show", script["id"][:8]) == script

    video = tmp_path / "circle.mp4"
    run = manimagent.json("scripts", "execute", script["id"][:8], "--quality", "low", "--output", str(video))
    assert set(run) == _fields("ExecuteResult")
    assert run["success"] and run["attempts"] == 1 and run["script_id"] == script["id"]
    assert video.stat().st_size > 1000 and Path(run["output_path"]) == video.resolve()
    assert (run["output_url"] is not None) == (mode == "server")

    [execution] = manimagent.json("executions", "list", "--script", script["id"])
    assert set(execution) == _fields("ExecutionPublic")
    assert (
        execution["id"] == run["execution_id"]
        and execution["status"] == "succeeded"
        and execution["quality"] == "low"
    )
    detail = manimagent.json("executions", "show", run["execution_id"][:8])
    assert set(detail) == _fields("ExecutionDetail") and detail["log"] == ""
    assert _without_keys(detail, "log", "original_script", "modified_script") == execution
    shown = manimagent("executions", "show", run["execution_id"], "--log")
    assert shown.code == 0 and run["execution_id"] in shown.stdout and "CircleToSquare" in shown.stdout

    retried = manimagent.json("executions", "retry", run["execution_id"])
    assert set(retried) == _fields("ExecuteResult")
    assert retried["success"] and retried["execution_id"] != run["execution_id"]
    runs = manimagent.json("executions", "list", "--script", script["id"][:8])
    assert [(row["id"], row["attempt_number"]) for row in runs] == [
        (retried["execution_id"], 2),
        (run["execution_id"], 1),
    ]

    assert manimagent("scripts", "export", script["id"]).stdout == CIRCLE.read_text()
    exported = manimagent("scripts", "export", script["id"], "--output", str(tmp_path / "copy.py"))
    assert exported.code == 0 and (tmp_path / "copy.py").read_text() == CIRCLE.read_text()
    assert_one_line_error(manimagent("scripts", "rm", script["id"]), 2)  # no terminal, no --yes
    removed = manimagent("scripts", "rm", script["id"], "--yes")
    assert removed.code == 0 and script["id"] in removed.stderr
    assert_one_line_error(manimagent("scripts", "show", script["id"]), 2)
    assert_one_line_error(manimagent("executions", "show", run["execution_id"]), 2)


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_generate_with_the_offline_provider(manimagent, mode, tmp_path):
    video = tmp_path / "generated.mp4"
    made = manimagent.json("generate", "Animate a circle", "--quality", "low", "--output", str(video))
    assert set(made) == _fields("GenerateResult")
    assert made["success"] and made["provider"] == "offline" and made["attempts"] >= 1
    assert video.stat().st_size > 1000 and Path(made["output_path"]) == video.resolve()
    script = manimagent.json("scripts", "show", made["script_id"])
    assert script["provider"] == "offline" and script["executions"] == [made["execution_id"]]

    written = manimagent.json("scripts", "generate", "Animate a square")
    assert set(written) == _fields("ScriptGenerateResult")
    assert written["success"] and written["execution"] is None
    refined = manimagent.json("scripts", "refine", written["script_id"], "make it red")
    assert refined["success"] and refined["script_id"] != written["script_id"]
    assert manimagent.json("scripts", "show", refined["script_id"])["parent"] == written["script_id"]


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_render_a_file(manimagent, mode, tmp_path):
    video = tmp_path / "rendered.mp4"
    result = manimagent.json("render", str(CIRCLE), "--quality", "low", "--output", str(video))
    assert set(result) == _fields("ExecuteResult")
    assert result["success"] and result["attempts"] == 1 and video.stat().st_size > 1000
    assert manimagent.json("scripts", "show", result["script_id"])["status"] == "successful"


@pytest.mark.parametrize("mode", MODES)
def test_providers_and_containers_lists(manimagent, mode):
    for group, schema in (("providers", "ProviderPublic"), ("containers", "ContainerPublic")):
        rows = manimagent.json(group, "list")
        assert isinstance(rows, list) and all(set(row) == _fields(schema) for row in rows)


@pytest.mark.server
def test_the_same_keys_in_both_modes(server, account, cli, monkeypatch):  # noqa: F811
    """The same commands on the local store and on the server print documents with the same keys."""
    local = Manimagent(cli, "local")
    _log_in(cli, monkeypatch, server.url, account)
    remote = Manimagent(cli, "server", ["--server", server.url])
    imported = [run.json("scripts", "import", str(CIRCLE)) for run in (local, remote)]
    listed = [run.json("scripts", "list", "--limit", "1")[0] for run in (local, remote)]
    shown = [
        run.json("scripts", "show", doc["id"]) for run, doc in zip((local, remote), imported, strict=True)
    ]
    for docs in (imported, listed, shown):
        assert sorted(docs[0]) == sorted(docs[1])
        assert _without_keys(docs[0], "id", "created_at", "updated_at") == _without_keys(
            docs[1], "id", "created_at", "updated_at"
        )
    assert listed[1]["id"] == imported[1]["id"] and shown[1] == imported[1]


@pytest.mark.server
def test_manimagent_server_env_switches_the_commands(server, account, cli, monkeypatch):  # noqa: F811
    _log_in(cli, monkeypatch, server.url, account)
    monkeypatch.setenv("MANIMAGENT_SERVER", server.url + "/")
    script = cli("scripts", "import", str(CIRCLE), "--json").json()
    assert script["id"] in [row["id"] for row in cli("scripts", "list", "--json").json()]
    monkeypatch.delenv("MANIMAGENT_SERVER")
    assert cli("scripts", "list", "--json").json() == []  # nothing was stored locally
    assert_one_line_error(cli("scripts", "show", script["id"]), 2)


# ---- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_unknown_ids_and_empty_prompts_exit_2(manimagent, mode, tmp_path):
    for args in (
        ["scripts", "show", "ffffffff"],
        ["scripts", "execute", "ffffffff", "--json"],
        ["scripts", "export", "ffffffff"],
        ["scripts", "rm", "ffffffff", "--yes"],
        ["scripts", "refine", "ffffffff", "make it red"],
        ["executions", "show", "zzzz"],
        ["executions", "retry", "12345678", "--json"],
        ["executions", "list", "--script", "ffffffff"],
        ["generate", ""],
        ["generate", "   ", "--json"],
        ["scripts", "generate", ""],
        ["scripts", "import", str(tmp_path / "missing.py")],
    ):
        assert_one_line_error(manimagent(*args), 2)
    (tmp_path / "no_scene.py").write_text("from manim import *\n\nx = 1\n")
    assert_one_line_error(manimagent("scripts", "import", str(tmp_path / "no_scene.py")), 2)


def _kept_login(url: str) -> None:
    """A token pair in the keyring for `url`, valid for an hour (as `auth login` leaves it)."""
    import base64
    import json
    import time

    from manimagent.client import TokenStore
    from manimagent.services.auth import TokenPair

    claims = base64.urlsafe_b64encode(json.dumps({"exp": time.time() + 3600}).encode()).decode().rstrip("=")
    TokenStore(url).save(TokenPair(access=f"e30.{claims}.sig", refresh=f"e30.{claims}.sig"))


@pytest.mark.parametrize(
    "args",
    [
        ["scripts", "list"],
        ["executions", "list", "--json"],
        ["generate", "Animate a circle"],
        ["render", str(CIRCLE)],
        ["providers", "list"],
    ],
)
def test_an_unreachable_server_exits_3(cli, args):
    url = f"http://127.0.0.1:{free_port()}"
    _kept_login(url)
    result = cli(*args, "--server", url)
    assert_one_line_error(result, 3)
    assert f"cannot reach {url}" in result.stderr and "MANIMAGENT_SERVER" in result.stderr
    assert_one_line_error(cli(*args, "--server", "ftp://example.com"), 2)


@pytest.mark.server
def test_not_logged_in_exits_3(server, cli):  # noqa: F811
    for args in (
        ["scripts", "list", "--json"],
        ["executions", "list"],
        ["scripts", "import", str(CIRCLE)],
        ["containers", "list"],
    ):
        result = cli(*args, "--server", server.url)
        assert_one_line_error(result, 3)
        assert f"auth login --server {server.url}" in result.stderr


@pytest.mark.server
def test_configuration_commands_stay_on_the_servers_machine(server, cli):  # noqa: F811
    for args in (
        ["providers", "add", "x", "--type", "openai"],
        ["providers", "set-key", "x", "--stdin"],
        ["providers", "test", "offline"],
        ["containers", "add", "warm"],
        ["containers", "build"],
        ["containers", "rm", "warm"],
    ):
        result = cli(*args, "--server", server.url)
        assert_one_line_error(result, 2)
        assert "not available through a server" in result.stderr
