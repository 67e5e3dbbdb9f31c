"""`manimagent eval`: suites of code or prompts with real renders, stored runs, compare, and bad input."""

from __future__ import annotations

import json
import sqlite3

import pytest

from conftest import assert_one_line_error
from manimagent.schemas import EvalItemResult
from manimagent.services.evaluate import cost_of, load_suite, totals

GOOD = (
    "from manim import *\n\nclass Good(Scene):\n    def construct(self):\n"
    "        self.play(Create(Circle()), run_time=0.3)\n"
)
RAISES = (
    "from manim import *\n\nclass Bad(Scene):\n    def construct(self):\n        self.add(Square())\n"
    "        raise ValueError('broken on purpose')\n"
)
OLD_NAMES = (
    "from manim import *\n\nclass Old(Scene):\n    def construct(self):\n"
    "        self.play(ShowCreation(Circle(color=CYAN)), run_time=0.3)\n"
)
WIDE = (
    "from manim import *\n\nclass Wide(Scene):\n    def construct(self):\n"
    "        self.play(FadeIn(Text('far too long a line of text for the frame of the video').scale(1.5)), "
    "run_time=0.3)\n"
)


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


# --- suites and bad input ------------------------------------------------------------------------


def test_the_builtin_suite_has_graded_prompts():
    items = load_suite("builtin")
    assert len(items) >= 40 and len({item.id for item in items}) == len(items)
    assert {item.kind for item in items} == {"prompt"}
    assert {item.id.split("-")[0] for item in items} == {"1", "2", "3", "4", "5"}


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "has no items"),
        ("\n\n", "has no items"),
        ("not json\n", "line 1 is not JSON"),
        ('{"id": "a", "prompt": "x"}\n[1, 2]\n', "line 2 is not a JSON object"),
        ('{"prompt": "x"}\n', "line 1 has no id"),
        ('{"id": "a"}\n', "needs exactly one of prompt or code"),
        ('{"id": "a", "prompt": "x", "code": "y"}\n', "needs exactly one of prompt or code"),
        ('{"id": "a", "prompt": "   "}\n', "has an empty prompt"),
        ('{"id": "a", "prompt": 5}\n', "has an empty prompt"),
        ('{"id": "a", "prompt": "x"}\n{"id": "a", "prompt": "y"}\n', "the id 'a' is used twice"),
    ],
)
def test_bad_suites_are_one_line_errors(cli, tmp_path, content, message):
    suite = tmp_path / "suite.jsonl"
    suite.write_text(content)
    result = cli("eval", str(suite))
    assert_one_line_error(result, 2)
    assert message in result.stderr


def test_missing_binary_and_empty_folder_suites(cli, tmp_path):
    missing = cli("eval", str(tmp_path / "nope.jsonl"))
    assert_one_line_error(missing, 2)
    assert "does not exist" in missing.stderr
    binary = tmp_path / "suite.jsonl"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    assert_one_line_error(cli("eval", str(binary)), 2)
    (tmp_path / "empty").mkdir()
    empty = cli("eval", str(tmp_path / "empty"), "--json")
    assert_one_line_error(empty, 2)
    assert "has no items" in empty.stderr


def test_unknown_runs_and_bad_options(cli, tmp_path):
    for args in (
        ["eval", "compare", "abcd1234", "bcde2345"],
        ["eval", "show", "abcd1234"],
        ["eval", "compare", "xyz", "abcd"],
    ):
        result = cli(*args)
        assert_one_line_error(result, 2)
    assert "no eval run with id 'abcd1234'" in cli("eval", "show", "abcd1234").stderr
    suite = _jsonl(tmp_path / "s.jsonl", [{"id": "a", "code": GOOD}])
    assert_one_line_error(cli("eval", suite, "--jobs", "0"), 2)
    assert_one_line_error(cli("eval", suite, "--max-attempts", "11"), 2)
    unknown = cli("eval", suite, "--provider", "no-such-provider")
    assert unknown.code in (2, 3) and "Traceback" not in unknown.stderr


def test_totals_and_costs():
    def item(rendered, attempts, cost=0.0):
        return EvalItemResult(
            item_id=str(attempts),
            kind="code",
            rendered=rendered,
            attempts=attempts,
            seconds=1.0,
            tokens=10,
            cost=cost,
        )

    done = totals([item(True, 1), item(True, 3), item(False, 3), item(True, 2)])
    assert done["success_at_1"] == 0.25 and done["success_at_k"] == 0.75 and done["median_attempts"] == 2.0
    assert done["tokens"] == 40 and done["cost"] == 0.0
    assert totals([item(True, 1, cost=None)])["cost"] is None
    assert cost_of("gpt-4o-mini-2024-07-18", 1_000_000, 1_000_000) == 0.75
    assert cost_of("gpt-4o", 1_000_000, 0) == 2.5
    assert cost_of("recipes-v1", 500, 500) == 0.0
    assert cost_of("some-local-model", 10, 10) is None


# --- real renders ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_code_suite_records_each_item_and_is_stored(cli, tmp_path, isolated_home):
    suite = _jsonl(
        tmp_path / "code.jsonl",
        [
            {"id": "good", "code": GOOD},
            {"id": "bad", "code": RAISES},
            {"id": "old", "code": OLD_NAMES},
            {"id": "wide", "code": WIDE},
        ],
    )
    result = cli("eval", suite, "--max-attempts", "1", "--jobs", "2", "--json")
    assert result.code == 0, result.stderr
    run = result.json()
    assert run["status"] == "finished" and run["items"] == 4 and run["rendered"] == 3
    assert run["success_at_1"] == 0.75 and run["success_at_k"] == 0.75 and run["median_attempts"] == 1.0
    items = {item["item_id"]: item for item in run["results"]}
    assert list(items) == ["good", "bad", "old", "wide"]
    assert (
        items["good"]["rendered"] and items["good"]["attempts"] == 1 and items["good"]["first_error"] is None
    )
    assert (
        not items["bad"]["rendered"]
        and items["bad"]["first_error"] == "ValueError"
        and "broken on purpose" in items["bad"]["error"]
    )
    assert (
        items["old"]["rendered"] and items["old"]["fixes"]
    )  # ShowCreation and CYAN were fixed before rendering
    assert items["wide"]["layout"][0]["kind"] == "off_frame"
    assert all(item["seconds"] > 0 and item["tokens"] == 0 for item in items.values())
    assert "bad: failed (ValueError)" in result.stderr
    stored = cli("eval", "list", "--json").json()
    assert [row["id"] for row in stored] == [run["id"]]
    db = sqlite3.connect(isolated_home / "manimagent.db")
    assert db.execute("SELECT count(*) FROM evalitem WHERE run_id = ?", (run["id"],)).fetchone()[0] == 4
    shown = cli("eval", "show", run["id"][:8])
    assert shown.code == 0 and "success@1 75.0%" in shown.stdout and "good" in shown.stdout


@pytest.mark.slow
def test_a_prompt_suite_with_the_offline_provider_and_a_folder_suite(cli, tmp_path):
    suite = _jsonl(
        tmp_path / "prompts.jsonl",
        [{"id": "circle", "prompt": "Draw a blue circle"}, {"id": "text", "prompt": "Write hello in yellow"}],
    )
    result = cli("eval", suite, "--provider", "offline", "--max-attempts", "2")
    assert result.code == 0, result.stderr
    assert "2/2 rendered · success@1 100.0% · success@2 100.0% · median attempts 1" in result.stdout
    doc = cli("eval", "show", result.stdout.split("run id: ")[1].strip(), "--json").json()
    assert all(
        item["kind"] == "prompt" and item["tokens"] > 0 and item["cost"] == 0.0 for item in doc["results"]
    )
    folder = tmp_path / "scenes"
    folder.mkdir()
    (folder / "a_good.py").write_text(GOOD)
    (folder / "b_empty.py").write_text("")
    (folder / "notes.txt").write_text("not a scene")
    run = cli("eval", str(folder), "--max-attempts", "1", "--json").json()
    assert [(item["item_id"], item["rendered"]) for item in run["results"]] == [
        ("a_good", True),
        ("b_empty", False),
    ]
    assert run["results"][1]["first_error"] == "InvalidScript" and run["results"][1]["attempts"] == 0


@pytest.mark.slow
def test_compare_two_runs(cli, tmp_path):
    before = cli(
        "eval",
        _jsonl(tmp_path / "a.jsonl", [{"id": "x", "code": RAISES}, {"id": "y", "code": GOOD}]),
        "--max-attempts",
        "1",
        "--json",
    ).json()
    after = cli(
        "eval",
        _jsonl(
            tmp_path / "b.jsonl",
            [{"id": "x", "code": GOOD}, {"id": "y", "code": GOOD}, {"id": "z", "code": GOOD}],
        ),
        "--max-attempts",
        "1",
        "--json",
    ).json()
    result = cli("eval", "compare", before["id"][:6], after["id"], "--json")
    assert result.code == 0, result.stderr
    doc = result.json()
    assert (
        doc["success_at_1_delta"] == 0.5
        and doc["success_at_k_delta"] == 0.5
        and doc["fixed"] == ["x"]
        and doc["broken"] == []
    )
    assert [change["item_id"] for change in doc["changes"]] == ["x", "z"]
    assert doc["changes"][1]["a_rendered"] is None
    table = cli("eval", "compare", before["id"], after["id"])
    assert "+50.0 pts" in table.stdout and "1 fixed, 0 broken" in table.stdout
