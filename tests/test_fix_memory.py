"""Fix memory: an LLM repair that rendered is remembered by its error's signature, and the next
repair of the same kind of error carries the earlier diff. Through the real OpenAI SDK against the
fake LLM server, with real renders."""

from __future__ import annotations

import json
import sqlite3

import pytest

from fakellm import fake_llm, fake_llm_server  # noqa: F401 - fixtures
from manimagent.context import local_context
from manimagent.render.base import RenderFailure
from manimagent.services import fixmemory
from manimagent.store.models import User

FAILING = (
    "from manim import *\n"
    "class {name}(Scene):\n"
    "    def construct(self):\n"
    "        self.add(Circle())\n"
    "        raise RuntimeError(\"layer '{layer}' overflows by {units} units\")\n"
)
REPAIRED = (
    "```python\nfrom manim import *\nclass {name}(Scene):\n    def construct(self):\n"
    "        self.add(Circle())\n```"
)


def test_signatures_abstract_names_numbers_and_addresses():
    first = fixmemory.error_signature(
        RenderFailure("AttributeError", "'Rectangle' object has no attribute 'bottom_left'")
    )
    second = fixmemory.error_signature(
        RenderFailure("AttributeError", "'Axes' object has no attribute 'add_label'")
    )
    assert first == second == "AttributeError: NAME object has no attribute NAME"
    shapes = fixmemory.error_signature(
        RenderFailure("ValueError", "could not broadcast input array from shape (1,2) into shape (1,3)")
    )
    assert shapes == "ValueError: could not broadcast input array from shape (N,N) into shape (N,N)"
    at = fixmemory.error_signature(
        RenderFailure("TypeError", "<Circle object at 0x7f3a2b> in /tmp/job-1/scene.py is 2.5 wide")
    )
    assert at == "TypeError: <Circle object at ADDR> in PATH is N wide"
    assert fixmemory.error_signature(RenderFailure("NameError", "x")) != fixmemory.error_signature(
        RenderFailure("TypeError", "x")
    )


def test_memories_are_kept_per_owner(isolated_home):
    ctx = local_context()
    with ctx.session() as session:
        users = [User(email=f"u{index}@example.com", password_hash="x") for index in range(2)]
        session.add_all(users)
        session.commit()
        alice, bob = (user.id for user in users)
    failure = RenderFailure("NameError", "name 'Box' is not defined")
    ctx.user_id = alice
    assert fixmemory.remember(ctx, failure, "a = Box()\n", "a = Square()\n") is not None
    assert fixmemory.remember(ctx, failure, "a = Box()\n", "a = Square()\n") is None  # known already
    assert fixmemory.remember(ctx, failure, "same\n", "same\n") is None  # nothing changed
    assert (
        "+a = Square()"
        in fixmemory.recall(ctx, RenderFailure("NameError", "name 'Histogram' is not defined")).diff
    )
    ctx.user_id = bob
    assert fixmemory.recall(ctx, failure) is None


@pytest.fixture
def openai_provider(cli, fake_llm, isolated_home):  # noqa: F811
    (isolated_home / "config.toml").write_text("[llm]\nmax_retries = 0\ntimeout = 10\n")
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


@pytest.mark.slow
def test_a_repair_that_rendered_is_offered_to_the_next_repair_of_its_kind(
    cli, openai_provider, tmp_path, isolated_home
):
    first = tmp_path / "first.py"
    first.write_text(FAILING.format(name="First", layer="title", units=3))
    openai_provider.enqueue(text=REPAIRED.format(name="First"))
    doc = cli("render", str(first), "--max-attempts", "2", "--json").json()
    assert doc["success"] and doc["attempts"] == 2, doc
    assert "rendered after this change" not in json.dumps(
        openai_provider.requests[-1].body["messages"]
    )  # nothing remembered yet
    rows = (
        sqlite3.connect(isolated_home / "manimagent.db")
        .execute("SELECT signature, diff, uses FROM fixmemory")
        .fetchall()
    )
    assert len(rows) == 1
    signature, diff, uses = rows[0]
    assert signature == "RuntimeError: layer NAME overflows by N units" and uses == 0
    assert "-        raise RuntimeError(\"layer 'title' overflows by 3 units\")" in diff

    second = tmp_path / "second.py"
    second.write_text(FAILING.format(name="Second", layer="caption", units=7))
    openai_provider.enqueue(text=REPAIRED.format(name="Second"))
    doc = cli("render", str(second), "--max-attempts", "2", "--json").json()
    assert doc["success"] and doc["attempts"] == 2, doc
    prompt = openai_provider.requests[-1].body["messages"][-1]["content"]
    assert "overflows by 7 units" in prompt  # this repair's own error
    assert "rendered after this change" in prompt and "overflows by 3 units" in prompt and "```diff" in prompt
    uses = (
        sqlite3.connect(isolated_home / "manimagent.db")
        .execute("SELECT uses FROM fixmemory ORDER BY id")
        .fetchall()
    )
    assert uses == [(1,), (0,)]  # the first memory was used once; the second repair is remembered too


@pytest.mark.slow
def test_a_repair_that_failed_is_not_remembered(cli, openai_provider, tmp_path, isolated_home):
    file = tmp_path / "still_broken.py"
    file.write_text(FAILING.format(name="Broken", layer="x", units=1))
    openai_provider.enqueue(text="```python\n" + FAILING.format(name="Broken", layer="y", units=2) + "```")
    doc = cli("render", str(file), "--max-attempts", "2", "--json").json()
    assert doc["success"] is False and doc["attempts"] == 2 and doc["repair_stopped"] is None
    assert sqlite3.connect(isolated_home / "manimagent.db").execute(
        "SELECT count(*) FROM fixmemory"
    ).fetchone() == (0,)
