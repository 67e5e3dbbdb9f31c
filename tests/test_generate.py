"""Prompt to video through the real vendor SDKs against the local fake LLM server, with real renders."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from conftest import assert_one_line_error, run_cli_process, video_duration
from fakellm import fake_llm, fake_llm_server  # noqa: F401 - fixtures

pytestmark = pytest.mark.slow

GOOD = (
    "```python\nfrom manim import *\n\nclass Good(Scene):\n    def construct(self):\n"
    "        self.play(Create(Circle(color=BLUE)), run_time=0.5)\n```"
)
RAISES = (
    "Here you go:\n```python\nfrom manim import *\n\nclass Good(Scene):\n    def construct(self):\n"
    "        self.play(Create(Circle()), run_time=0.5)\n"
    "        raise RuntimeError('the LLM made a mistake')\n```\nEnjoy!"
)
GL_NAMES = (
    "```py\nfrom manim import *\nclass Old(Scene):\n    def construct(self):\n"
    "        self.play(ShowCreation(Circle(color=CYAN)), run_time=0.5)\n```"
)
FLAT_POINT = (
    "```python\nfrom manim import *\nclass Flat(Scene):\n    def construct(self):\n        d = Dot()\n"
    "        self.add(d)\n        d.move_to(np.array([1, 2]))\n"
    "        self.play(d.animate.scale(2), run_time=0.5)\n```"
)


@pytest.fixture
def openai_provider(cli, fake_llm, isolated_home):  # noqa: F811
    (isolated_home / "config.toml").write_text("[llm]\nmax_retries = 0\ntimeout = 2\n")
    result = cli(
        "providers",
        "add",
        "fake",
        "--type",
        "openai",
        "--base-url",
        fake_llm.base_url_for("openai"),
        "--model",
        "gpt-test",
    )
    assert result.code == 0, result.stderr
    return fake_llm


def _db(home):
    return sqlite3.connect(home / "manimagent.db")


def test_success_first_time_streams_and_records_tokens(cli, openai_provider):
    openai_provider.enqueue(text=GOOD, prompt_tokens=40, completion_tokens=30)
    result = cli("generate", "Animate a blue circle", "--json")
    assert result.code == 0, result.stderr
    doc = result.json()
    assert doc["success"] and doc["attempts"] == 1 and doc["provider"] == "fake"
    assert video_duration(doc["output_path"]) > 0.3
    request = openai_provider.requests[0]
    assert request.stream and request.body["model"] == "gpt-test"
    assert "Animate a blue circle" in json.dumps(request.body["messages"])
    assert "Manim Community Edition 0." in request.body["messages"][0]["content"]
    script = cli("scripts", "show", doc["script_id"], "--json").json()
    assert script["total_tokens"] == 70 and script["model"] == "gpt-test" and script["provider"] == "fake"


def test_render_error_then_fix_takes_two_attempts(cli, openai_provider):
    openai_provider.enqueue(text=RAISES)
    openai_provider.enqueue(text=GOOD)
    doc = cli("generate", "A circle", "--json").json()
    assert doc["success"] and doc["attempts"] == 2
    repair = json.dumps(openai_provider.requests[1].body["messages"])
    assert "RuntimeError: the LLM made a mistake" in repair and "raise RuntimeError" in repair
    runs = cli("executions", "list", "--script", doc["script_id"], "--json").json()
    assert [(r["attempt_number"], r["status"]) for r in runs] == [(2, "succeeded"), (1, "failed")]
    first = cli("executions", "show", runs[1]["id"], "--json").json()
    assert (
        "raise RuntimeError" in first["original_script"]
        and "raise RuntimeError" not in first["modified_script"]
    )
    content = cli("scripts", "show", doc["script_id"], "--json").json()["content"]
    assert "raise RuntimeError" not in content and "class Good(Scene)" in content


def test_deterministic_fixes_need_no_second_llm_call(cli, openai_provider):
    openai_provider.enqueue(text=GL_NAMES)
    doc = cli("generate", "old style", "--json").json()
    assert doc["success"] and doc["attempts"] == 1 and len(openai_provider.requests) == 1
    run = cli("executions", "show", doc["execution_id"], "--json").json()
    assert {fix["description"] for fix in run["fixes"]} == {"ShowCreation -> Create", "CYAN -> TEAL"}
    openai_provider.reset()
    openai_provider.enqueue(text=FLAT_POINT)
    doc = cli("generate", "flat point", "--json").json()
    assert doc["success"] and doc["attempts"] == 2 and len(openai_provider.requests) == 1
    assert "np.array([1, 2, 0])" in cli("scripts", "show", doc["script_id"], "--json").json()["content"]


@pytest.mark.parametrize("failure", [{"status": 500}, {"status": 401}, {"delay": 4, "text": GOOD}])
def test_fallback_to_the_next_provider(cli, openai_provider, isolated_home, failure):
    cli("providers", "update", "fake", "--priority", "1")
    cli(
        "providers",
        "add",
        "backup",
        "--type",
        "gemini",
        "--base-url",
        openai_provider.base_url_for("gemini"),
        "--priority",
        "2",
        "--api-key-env",
        "BACKUP_KEY",
    )
    openai_provider.enqueue(wire="openai", **failure)
    openai_provider.enqueue(wire="gemini", text=GOOD)
    result = run_cli_process("generate", "fallback please", "--json", env={"BACKUP_KEY": "gem-key-123"})
    assert result.code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["provider"] == "backup" and "trying the next provider" in result.stderr
    attempts = cli("scripts", "show", doc["script_id"], "--json").json()["provider_attempts"]
    assert [(a["provider"], a["ok"]) for a in attempts] == [("fake", False), ("backup", True)]


def test_every_provider_failing_exits_1_and_stores_the_failure(cli, openai_provider, isolated_home):
    cli(
        "providers",
        "add",
        "second",
        "--type",
        "anthropic",
        "--base-url",
        openai_provider.base_url_for("anthropic"),
        "--api-key-env",
        "SECOND_KEY",
        "--priority",
        "200",
    )
    for _ in range(2):
        openai_provider.enqueue(status=503)
    result = run_cli_process("generate", "nothing works", "--json", env={"SECOND_KEY": "k2"})
    assert result.code == 1 and "Traceback" not in result.stderr
    assert "every provider failed" in result.stderr
    row = _db(isolated_home).execute("SELECT status, error, provider_attempts FROM script").fetchone()
    assert row[0] == "failed" and "fake" in row[1] and "second" in row[1]
    assert len(json.loads(row[2])) == 2


@pytest.mark.parametrize(
    "reply",
    [
        "I cannot help with that.",
        "",
        "```python\nthis is not python at all (\n```",
        "```python\n" + "x = 1\n" * 50_000 + "```",
    ],
)
def test_garbage_replies_fail_cleanly(cli, openai_provider, isolated_home, reply):
    for _ in range(3):  # a big reply streams in 64 KB pieces: word-by-word SSE would only time the SDK
        openai_provider.enqueue(
            text=reply or " ", chunks=[reply[i : i + 65536] for i in range(0, len(reply), 65536)] or [" "]
        )
    result = cli("generate", "anything", "--json")
    assert_one_line_error(result, 1)
    assert _db(isolated_home).execute("SELECT status FROM script").fetchone()[0] == "failed"


def test_gemini_and_anthropic_end_to_end(cli, fake_llm, isolated_home, monkeypatch):  # noqa: F811
    monkeypatch.setenv("GEMINI_API_KEY", "g-key")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "a-key")
    cli("providers", "add", "gem", "--type", "gemini", "--base-url", fake_llm.base_url_for("gemini"))
    cli("providers", "add", "claude", "--type", "anthropic", "--base-url", fake_llm.base_url_for("anthropic"))
    for name in ("gem", "claude"):
        fake_llm.enqueue(text=GOOD)
        doc = cli("scripts", "generate", "circle", "--provider", name, "--json").json()
        assert doc["success"] and doc["provider"] == name and doc["status"] == "pending"
    assert [r.wire for r in fake_llm.requests] == ["gemini", "anthropic"]
    assert fake_llm.requests[0].key == "g-key" and fake_llm.requests[1].key == "a-key"


def test_explicit_provider_without_key_is_exit_3(cli, fake_llm):  # noqa: F811
    cli("providers", "add", "gem", "--type", "gemini", "--base-url", fake_llm.base_url_for("gemini"))
    result = cli("generate", "x", "--provider", "gem")
    assert_one_line_error(result, 3)
    assert "providers set-key gem" in result.stderr


def test_prompts_users_get_wrong(cli, openai_provider):
    assert_one_line_error(cli("generate", ""), 2)
    assert_one_line_error(cli("generate", "   \n "), 2)
    assert_one_line_error(cli("generate", "x", "--provider", "nosuch"), 2)
    bad_utf8 = run_cli_process("generate", "-", "--no-execute", input=b"\xff\xfe circle")
    assert_one_line_error(bad_utf8, 2)
    openai_provider.enqueue(text=GOOD)
    big = "Animate a circle. " * 6000
    piped = run_cli_process("generate", "-", "--no-execute", "--json", input=big.encode())
    assert piped.code == 0, piped.stderr
    assert len(json.dumps(openai_provider.requests[-1].body)) > 100_000


def test_refine_makes_a_child_script(cli, openai_provider):
    openai_provider.enqueue(text=GOOD)
    parent = cli("scripts", "generate", "a circle", "--json").json()["script_id"]
    openai_provider.enqueue(text=GOOD.replace("BLUE", "RED"))
    child = cli("scripts", "refine", parent[:8], "make it red", "--auto-execute", "--json").json()
    assert child["success"] and child["execution"]["success"]
    shown = cli("scripts", "show", child["script_id"], "--json").json()
    assert shown["parent"] == parent and "RED" in shown["content"]
    refine_request = json.dumps(openai_provider.requests[-1].body["messages"])
    assert "make it red" in refine_request and "Circle(color=BLUE)" in refine_request


def test_scripts_execute_repairs_and_retry(cli, openai_provider, tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text(RAISES.split("```python\n")[1].split("```")[0])
    imported = cli("scripts", "import", str(broken), "--json").json()["id"]
    openai_provider.enqueue(text=GOOD)
    doc = cli("scripts", "execute", imported, "--json").json()
    assert doc["success"] and doc["attempts"] == 2
    single = cli("render", str(broken), "--json")
    assert single.code == 1 and single.json()["attempts"] == 1 and len(openai_provider.requests) == 1


def test_no_key_reaches_db_media_logs_or_render_environment(
    cli, fake_llm, isolated_home, monkeypatch, tmp_path
):  # noqa: F811
    secret_stored, secret_env = "sk-stored-SECRET-1111", "sk-env-SECRET-2222"
    cli(
        "providers",
        "add",
        "keyed",
        "--type",
        "openai",
        "--base-url",
        fake_llm.base_url_for("openai"),
        "--api-key-env",
        "MY_OPENAI_KEY",
    )
    monkeypatch.setenv("MY_OPENAI_KEY", secret_env)
    monkeypatch.setenv("OPENAI_API_KEY", secret_env)
    env_dump = (
        "```python\nfrom manim import *\nimport os\nclass Env(Scene):\n    def construct(self):\n"
        "        print('ENVIRON', dict(os.environ))\n        self.add(Dot())\n        self.wait(0.2)\n```"
    )
    fake_llm.enqueue(text=env_dump)
    doc = cli("generate", "dump env", "--json").json()
    assert fake_llm.requests[-1].key == secret_env
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(secret_stored + "\n"))
    assert cli("providers", "set-key", "keyed", "--stdin").code == 0
    fake_llm.enqueue(text=env_dump)
    doc2 = cli("generate", "dump env again", "--json").json()
    assert fake_llm.requests[-1].key == secret_stored and doc["success"] and doc2["success"]
    log = cli("executions", "show", doc2["execution_id"], "--log", "--json").json()["log"]
    assert "ENVIRON" in log
    for path in isolated_home.rglob("*"):
        if path.is_file() and path.name != "test-keyring.json":  # stands in for the OS keyring
            data = path.read_bytes()
            assert secret_stored.encode() not in data and secret_env.encode() not in data, path
    assert (
        "keyed" in cli("providers", "list", "--json").stdout
        and secret_stored not in cli("providers", "list", "--json").stdout
    )


THREE_SCENES = (
    "```python\nfrom manim import *\n\nclass One(Scene):\n    def construct(self):\n"
    "        self.play(Create(Circle()), run_time=0.2)\n\nclass Two(Scene):\n    def construct(self):\n"
    "        raise RuntimeError('scene two breaks')\n\nclass Three(Scene):\n    def construct(self):\n"
    "        self.play(Create(Triangle()), run_time=0.2)\n```"
)


def test_generate_partial_joins_the_scenes_that_rendered(cli, openai_provider):
    """`generate --partial` (as `render --partial`): the scenes that rendered are joined, and
    success stays false."""
    openai_provider.enqueue(text=THREE_SCENES)
    result = cli("generate", "three shapes", "--partial", "--max-attempts", "1", "--json")
    assert result.code == 1, result.stderr
    doc = result.json()
    assert doc["success"] is False and "Traceback" not in result.stderr
    execution = cli("executions", "show", doc["execution_id"], "--json").json()
    assert [Path(path).stem for path in execution["outputs"]] == ["One", "Three"]
    assert (
        Path(execution["output_path"]).name == "all_scenes.mp4"
        and video_duration(execution["output_path"]) > 0.3
    )
