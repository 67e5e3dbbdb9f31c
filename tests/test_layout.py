"""The layout check: the hook in real renders (local child and the Docker agent's code path),
findings stored and shown, `render.layout = warn|repair|off`, and untrusted findings files."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import assert_one_line_error
from fakellm import fake_llm, fake_llm_server  # noqa: F401 - fixtures
from manimagent.render.layout import HOOK_FILE, MAX_FINDINGS, hook_source, parse_findings, read_findings

OFF_FRAME = (
    "from manim import *\n\nclass Wide(Scene):\n    def construct(self):\n"
    "        title = Text('A very long title that nobody wrapped to fit the frame').to_edge(UP)\n"
    "        self.play(Write(title), run_time=0.5)\n        self.wait(0.5)\n"
)
OVERLAP = (
    "from manim import *\n\nclass Crowded(Scene):\n    def construct(self):\n"
    "        self.play(Write(Text('Step one')), run_time=0.5)\n"
    "        self.play(Write(Text('Step two')), run_time=0.5)\n"
)
TIDY = (
    "from manim import *\n\nclass Tidy(Scene):\n    def construct(self):\n"
    "        title = Text('Tidy').to_edge(UP)\n"
    "        self.play(Write(title), Create(Circle()), run_time=0.5)\n"
)
STILL = (
    "from manim import *\n\nclass Still(Scene):\n    def construct(self):\n"
    "        self.add(MathTex('x^2').shift(DOWN * 5), Square())\n"
)
SPOOFS = (
    "from manim import *\n\nclass Spoof(Scene):\n    def construct(self):\n"
    "        self.play(Create(Circle()), run_time=0.3)\n"
    '        open(\'layout.json\', \'w\').write(\'{"findings": [{"kind": "off_frame", "scene": "x", '
    '"time": "soon"}, 17, '
    '{"kind": "overlap", "scene": "Spoof", "time": 1, "mobject": "Text", "amount": 0.5, "other": '
    '"Text"}]}\')\n'
)


def _write(tmp_path, name, code):
    path = tmp_path / name
    path.write_text(code)
    return path


def _execution(cli, execution_id):
    return cli("executions", "show", execution_id, "--json").json()


# --- the findings file is untrusted ---------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b"[]",
        b'{"findings": 3}',
        b'{"findings": [1, "x", null]}',
        b"\xff\xfe",
        b"[" * 100_000,
    ],
)
def test_garbage_findings_files_give_no_findings(data):
    assert parse_findings(data) == []


def test_each_finding_is_validated_and_names_are_cleaned():
    good = {
        "kind": "off_frame",
        "scene": "S",
        "time": 1.5,
        "mobject": "Text('hi')",
        "amount": 0.7,
        "sides": ["right"],
    }
    bad = [
        {**good, "kind": "explode"},
        {**good, "time": float("nan")},
        {**good, "time": -1},
        {**good, "amount": "far"},
        {**good, "amount": True},
        {**good, "sides": ["up", "down"]},
        {**good, "scene": ""},
        {**good, "kind": "overlap", "other": None},
    ]
    long_name = {**good, "mobject": "X\x1b[31m" + "y" * 500}
    findings = parse_findings(json.dumps({"findings": [*bad, good, long_name]}))
    assert len(findings) == 2
    assert findings[0].describe() == "S at 1.5 s: Text('hi') leaves the frame by 0.70 units (right)"
    assert len(findings[1].mobject) == 120 and "\x1b" not in findings[1].mobject


def test_findings_are_capped_and_a_huge_file_is_ignored(tmp_path):
    one = {
        "kind": "overlap",
        "scene": "S",
        "time": 0,
        "mobject": "Text('a')",
        "other": "Text('b')",
        "amount": 1.0,
    }
    assert len(parse_findings(json.dumps({"findings": [one] * 500}))) == MAX_FINDINGS
    huge = tmp_path / "layout.json"
    huge.write_text(json.dumps({"findings": [one], "padding": "x" * 300_000}))
    assert read_findings(huge) == []
    assert read_findings(tmp_path / "missing.json") == []


# --- real renders ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_off_frame_text_is_recorded_shown_and_stored(cli, tmp_path):
    result = cli("render", str(_write(tmp_path, "wide.py", OFF_FRAME)), "--json")
    assert result.code == 0, result.stderr
    assert (
        "layout: Wide at 0.533 s: Text('A very long title that nobody wrapped" in result.stderr
    )  # 8 frames at 15 fps
    assert "leaves the frame by" in result.stderr
    row = _execution(cli, result.json()["execution_id"])
    assert row["status"] == "succeeded"
    [finding] = row["layout"]
    assert finding["kind"] == "off_frame" and finding["scene"] == "Wide" and finding["time"] == 0.533
    assert set(finding["sides"]) == {"left", "right"} and finding["amount"] > 0.5
    shown = cli("executions", "show", result.json()["execution_id"])
    assert "layout:" in shown.stdout and "leaves the frame by" in shown.stdout


@pytest.mark.slow
def test_overlapping_text_and_a_still_scene(cli, tmp_path):
    crowded = cli("render", str(_write(tmp_path, "crowded.py", OVERLAP)), "--json")
    [overlap] = _execution(cli, crowded.json()["execution_id"])["layout"]
    assert (
        overlap["kind"] == "overlap"
        and overlap["mobject"] == "Text('Step one')"
        and overlap["other"] == "Text('Step two')"
    )
    assert overlap["time"] == pytest.approx(1.0, abs=0.1)
    still = cli("render", str(_write(tmp_path, "still.py", STILL)), "--format", "png", "--json")
    assert still.code == 0, still.stderr
    [below] = _execution(cli, still.json()["execution_id"])["layout"]
    assert below["mobject"] == "MathTex('x^2')" and below["sides"] == ["bottom"] and below["time"] == 0


@pytest.mark.slow
def test_a_tidy_scene_has_no_findings(cli, tmp_path):
    result = cli("render", str(_write(tmp_path, "tidy.py", TIDY)), "--json")
    assert result.code == 0 and "layout:" not in result.stderr
    assert _execution(cli, result.json()["execution_id"])["layout"] == []


@pytest.mark.slow
def test_layout_off_skips_the_check(cli, tmp_path, isolated_home):
    (isolated_home / "config.toml").write_text('[render]\nlayout = "off"\n')
    result = cli("render", str(_write(tmp_path, "wide.py", OFF_FRAME)), "--json")
    assert result.code == 0 and "layout:" not in result.stderr
    assert _execution(cli, result.json()["execution_id"])["layout"] == []


def test_an_unknown_layout_mode_is_a_configuration_error(cli, tmp_path, isolated_home):
    (isolated_home / "config.toml").write_text('[render]\nlayout = "sometimes"\n')
    result = cli("render", str(_write(tmp_path, "tidy.py", TIDY)))
    assert_one_line_error(result, 3)
    assert "render.layout must be warn, repair or off, got 'sometimes'" in result.stderr


@pytest.mark.slow
def test_repair_mode_fails_an_attempt_with_findings(cli, tmp_path, isolated_home):
    (isolated_home / "config.toml").write_text('[render]\nlayout = "repair"\n')
    result = cli("render", str(_write(tmp_path, "wide.py", OFF_FRAME)), "--json")
    assert result.code == 1
    doc = result.json()
    assert doc["success"] is False and doc["error"].startswith(
        "LayoutError: 1 layout problem: Wide at 0.533 s: Text("
    )
    row = _execution(cli, doc["execution_id"])
    assert (
        row["status"] == "failed"
        and row["error_type"] == "LayoutError"
        and row["outputs"] == []
        and len(row["layout"]) == 1
    )


@pytest.mark.slow
def test_repair_mode_sends_the_findings_to_the_llm_and_renders_its_fix(
    cli, tmp_path, isolated_home, fake_llm
):  # noqa: F811
    (isolated_home / "config.toml").write_text(
        '[render]\nlayout = "repair"\n[llm]\nmax_retries = 0\ntimeout = 5\n'
    )
    assert (
        cli(
            "providers",
            "add",
            "fake",
            "--type",
            "openai",
            "--base-url",
            fake_llm.base_url_for("openai"),
            "--model",
            "gpt-test",
        ).code
        == 0
    )
    fake_llm.enqueue(text=f"```python\n{TIDY}```")
    result = cli("render", str(_write(tmp_path, "wide.py", OFF_FRAME)), "--max-attempts", "2", "--json")
    assert result.code == 0, result.stderr
    doc = result.json()
    assert doc["success"] and doc["attempts"] == 2
    prompt = json.dumps(fake_llm.requests[-1].body)
    assert "LayoutError: 1 layout problem: Wide at 0.533 s" in prompt and "leaves the frame by" in prompt
    assert "The visible frame is about 14.2 x 8 units" in prompt
    first, second = cli("executions", "list", "--json").json()[::-1]
    assert first["status"] == "failed" and second["status"] == "succeeded"
    assert _execution(cli, second["id"])["layout"] == []


@pytest.mark.slow
def test_a_scene_cannot_plant_findings(cli, tmp_path):
    result = cli("render", str(_write(tmp_path, "spoof.py", SPOOFS)), "--json")
    assert result.code == 0, result.stderr
    layout = _execution(cli, result.json()["execution_id"])["layout"]
    assert layout == [
        {
            "kind": "overlap",
            "scene": "Spoof",
            "time": 1.0,
            "mobject": "Text",
            "amount": 0.5,
            "other": "Text",
            "sides": [],
        }
    ]


@pytest.mark.slow
def test_the_docker_agent_loads_the_same_hook(tmp_path):
    """The agent's `run_manim` (the code a container's job child runs) with the hook the host sends."""
    from importlib import resources

    from manimagent.render.agent_host import job_entries

    entries = {entry.name: entry for entry in job_entries("tok", OFF_FRAME, "scene.py", hook=hook_source())}
    assert entries[f"tok/{HOOK_FILE}"].data == hook_source() and entries[f"tok/{HOOK_FILE}"].mode == 0o600
    assert f"tok/{HOOK_FILE}" not in {entry.name for entry in job_entries("tok", OFF_FRAME, "scene.py")}
    (tmp_path / "scene.py").write_text(OFF_FRAME)
    (tmp_path / HOOK_FILE).write_bytes(hook_source())
    agent = str(resources.files("manimagent.render").joinpath("assets/agent.py"))
    program = (
        f"import runpy, sys; agent = runpy.run_path({agent!r}); sys.exit(agent['run_manim'](sys.argv[1:]))"
    )
    args = [
        "render",
        "-ql",
        "--format",
        "none",
        "--disable_caching",
        "--media_dir",
        "media",
        "scene.py",
        "Wide",
    ]
    done = subprocess.run(
        [sys.executable, "-c", program, *args], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    [finding] = read_findings(tmp_path / "layout.json")
    assert finding.kind == "off_frame" and finding.scene == "Wide"
