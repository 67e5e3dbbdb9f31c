"""Looking at what was made, and a tidy command line: posters, previews, --open, help without
`<bool>`, shell completion, `config set` / `config unset`. Real renders, ffprobe, a fake opener."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import EXAMPLES, ROOT, assert_one_line_error, run_cli_process, video_duration

STILL = (
    "from manim import *\nclass Card(Scene):\n    def construct(self):\n"
    "        self.add(Text('still', color=YELLOW), Square())\n"
)
SHORT = (
    "from manim import *\nclass Blink(Scene):\n    def construct(self):\n"
    "        self.play(Create(Circle()), run_time=0.3)\n"
)
needs_ffprobe = pytest.mark.skipif(
    shutil.which("ffprobe") is None, reason="ffprobe is installed by scripts/setup.sh --test"
)


def probe(path: str | Path) -> dict:
    """ffprobe's view of the first video stream of `path` (codec, size, frame rate)."""
    done = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,width,height,r_frame_rate,nb_frames",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)["streams"][0]


@pytest.fixture
def fake_opener(tmp_path: Path) -> Path:
    """A folder with an `xdg-open` (and `open`) that records its arguments in `opened.txt`."""
    folder = tmp_path / "bin"
    folder.mkdir()
    record = folder / "opened.txt"
    for name in ("xdg-open", "open"):
        script = folder / name
        script.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" >> '{record}'\n")
        script.chmod(0o755)
    return folder


def _with_opener(folder: Path, display: bool = True) -> dict[str, str]:
    env = {"PATH": f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"}
    if display:
        env["DISPLAY"] = ":99"
    return env


def _no_display(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)


# ---------------------------------------------------------------- the opener (unit)


def test_the_opener_is_the_platforms_own(fake_opener):
    from manimagent.cli.opener import opener_command

    video = Path("/videos/a.mp4")
    env = {"DISPLAY": ":0", "PATH": str(fake_opener)}
    assert opener_command(video, platform="linux", environ=env) == [str(fake_opener / "xdg-open"), str(video)]
    assert opener_command(
        video, platform="linux", environ={"WAYLAND_DISPLAY": "wayland-0", "PATH": str(fake_opener)}
    )[0].endswith("xdg-open")
    assert opener_command(video, platform="darwin", environ={"PATH": str(fake_opener)}) == [
        str(fake_opener / "open"),
        str(video),
    ]
    assert opener_command(video, platform="win32", environ={}) == ["cmd", "/c", "start", "", str(video)]


def test_no_display_or_no_opener_is_a_reason_not_a_crash(tmp_path, fake_opener):
    from manimagent.cli.opener import CannotOpen, opener_command

    with pytest.raises(CannotOpen, match="no display"):
        opener_command(Path("a.mp4"), platform="linux", environ={"PATH": str(fake_opener)})
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CannotOpen, match="xdg-open is not installed"):
        opener_command(Path("a.mp4"), platform="linux", environ={"DISPLAY": ":0", "PATH": str(empty)})
    with pytest.raises(CannotOpen, match="open is not installed"):
        opener_command(Path("a.mp4"), platform="darwin", environ={"PATH": str(empty)})


def test_open_file_runs_the_opener_and_reports_its_failure(tmp_path, fake_opener, monkeypatch):
    from manimagent.cli.opener import CannotOpen, open_file

    video = tmp_path / "a video.mp4"
    video.write_bytes(b"x")
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setenv("PATH", str(fake_opener))
    open_file(video)
    assert (fake_opener / "opened.txt").read_text().splitlines() == [str(video.resolve())]
    with pytest.raises(CannotOpen, match="not a file on this machine"):
        open_file(tmp_path / "missing.mp4")
    (fake_opener / "xdg-open").write_text("#!/bin/sh\nexit 4\n")
    with pytest.raises(CannotOpen, match="exit code 4"):
        open_file(video)


# ---------------------------------------------------------------- help and completion


def _commands(group, path=()):
    """Every command path of the CLI (groups and their commands)."""
    yield path
    for name, command in getattr(group, "commands", {}).items():
        yield from _commands(command, (*path, name))


def test_no_help_shows_a_type_after_a_flag(cli):
    import typer

    from manimagent.cli import app

    paths = list(_commands(typer.main.get_command(app)))
    assert len(paths) > 30
    for path in paths:
        result = cli(*path, "--help")
        assert result.code == 0, (path, result.stderr)
        assert "<bool>" not in result.stdout, (path, result.stdout)
    render = cli("render", "--help").stdout
    assert (
        "--open" in render and "--preview" in render and "<str>" in render
    )  # options with values keep their type


def _fake_shell(tmp_path: Path, name: str) -> str:
    """bash under the name `name`: shellingham finds the shell by its process name."""
    if name == "bash":
        return shutil.which("bash") or pytest.skip("no bash")
    link = tmp_path / "shells" / name
    link.parent.mkdir(exist_ok=True)
    link.symlink_to(shutil.which("bash") or pytest.skip("no bash"))
    return str(link)


def _from_shell(
    tmp_path: Path, shell: str, args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    command = f"{sys.executable} -m manimagent {args}; exit $?"  # `; exit` keeps the shell as the parent
    return subprocess.run(
        [_fake_shell(tmp_path, shell), "-c", command],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
        timeout=120,
    )


COMPLETION_MARKERS = {
    "bash": "complete -o default -F _manimagent_completion manimagent",
    "zsh": "#compdef manimagent",
    "fish": "complete --command manimagent",
}


@pytest.mark.parametrize("shell", sorted(COMPLETION_MARKERS))
def test_show_completion_prints_the_script_of_the_shell_it_runs_in(tmp_path, shell):
    done = _from_shell(tmp_path, shell, "--show-completion")
    assert done.returncode == 0, done.stderr
    assert COMPLETION_MARKERS[shell] in done.stdout and "_MANIMAGENT_COMPLETE" in done.stdout
    assert done.stderr == ""


INSTALLED = {
    "bash": (".bash_completions/manimagent.sh", ".bashrc", "source"),
    "zsh": (".zfunc/_manimagent", ".zshrc", "fpath+=~/.zfunc"),
    "fish": (".config/fish/completions/manimagent.fish", None, None),
}


@pytest.mark.parametrize("shell", sorted(INSTALLED))
def test_install_completion_writes_where_the_shell_loads_it(tmp_path, shell):
    home = tmp_path / "user"
    home.mkdir()
    done = _from_shell(tmp_path, shell, "--install-completion", env={"HOME": str(home)})
    assert done.returncode == 0, done.stderr
    script, rc_file, rc_line = INSTALLED[shell]
    assert COMPLETION_MARKERS[shell] in (home / script).read_text()
    if rc_file:
        assert rc_line in (home / rc_file).read_text()
    assert f"{shell} completion installed in {home / script}" in done.stderr


def test_an_unsupported_shell_is_one_error_line(tmp_path):
    done = _from_shell(tmp_path, "tcsh", "--show-completion", env={"SHELL": "/bin/tcsh"})
    assert done.returncode == 3 and done.stdout == ""
    assert [line for line in done.stderr.splitlines() if line] == [
        line for line in done.stderr.splitlines() if line.startswith("Error:")
    ]
    assert "tcsh" in done.stderr and "Traceback" not in done.stderr


def test_bash_completes_commands_and_options(tmp_path):
    """The bash script, sourced in a real bash, completes `ren` and `render --no`."""
    wrapper = tmp_path / "bin" / "manimagent"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -m manimagent "$@"\n')
    wrapper.chmod(0o755)
    script = _from_shell(tmp_path, "bash", "--show-completion").stdout
    (tmp_path / "completion.sh").write_text(script)
    probe_words = (
        f"source {tmp_path / 'completion.sh'}\n"
        "COMP_WORDS=(manimagent ren); COMP_CWORD=1;"
        ' _manimagent_completion manimagent; echo "${COMPREPLY[@]}"\n'
        "COMP_WORDS=(manimagent render --no-c); COMP_CWORD=2;"
        ' _manimagent_completion manimagent; echo "${COMPREPLY[@]}"\n'
        "COMP_WORDS=(manimagent config un); COMP_CWORD=2;"
        ' _manimagent_completion manimagent; echo "${COMPREPLY[@]}"\n'
    )
    env = {**os.environ, "PATH": f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "-c", probe_words], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
    )
    assert done.stdout.splitlines() == ["render", "--no-cache", "unset"], done.stderr


# ---------------------------------------------------------------- config set / unset


CONFIG = """# my manimagent settings
[render]
# low while I work on it
quality = "low"  # the default anyway
engine = "local"

[llm]
timeout = 30.0
"""


def _config(home: Path) -> Path:
    return home / "config.toml"


def test_config_set_and_unset_round_trip_keeping_comments(cli, isolated_home):
    _config(isolated_home).write_text(CONFIG)
    result = cli("config", "set", "render.quality", "Medium", "--json")
    assert result.code == 0, result.stderr
    assert result.json() == {
        **result.json(),
        "name": "quality",
        "value": "medium",
        "key": "render.quality",
        "source": "config.toml [render.quality]",
    }
    assert cli("config", "set", "cache.max_size", "1GiB").code == 0
    assert cli("config", "set", "server.cors_origins", "http://a.test, http://b.test").code == 0
    assert cli("config", "set", "cache.enabled", "off").code == 0
    text = _config(isolated_home).read_text()
    for kept in (
        "# my manimagent settings",
        "# low while I work on it",
        'engine = "local"',
        "timeout = 30.0",
    ):
        assert kept in text
    assert 'quality = "medium"' in text and 'max_size = "1GiB"' in text and "enabled = false" in text
    shown = {row["key"]: row for row in cli("config", "show", "--json").json() if row.get("key")}
    assert shown["render.quality"]["value"] == "medium" and shown["cache.enabled"]["value"] is False
    assert shown["server.cors_origins"]["value"] == ["http://a.test", "http://b.test"]

    result = cli("config", "unset", "render.quality")
    assert result.code == 0 and "Removed render.quality" in result.stderr
    assert cli("config", "unset", "cache.max_size").code == 0
    assert cli("config", "unset", "cache.enabled").code == 0
    text = _config(isolated_home).read_text()
    assert "quality" not in text and "[cache]" not in text  # an emptied table goes
    assert "# low while I work on it" in text and 'engine = "local"' in text
    shown = {row["key"]: row for row in cli("config", "show", "--json").json() if row.get("key")}
    assert shown["render.quality"] == {**shown["render.quality"], "value": "low", "source": "default"}
    again = cli("config", "unset", "render.quality")
    assert again.code == 0 and "was not set" in again.stderr


def test_config_set_makes_the_file_and_a_secret_keeps_it_private(cli, isolated_home):
    assert not _config(isolated_home).exists()
    assert cli("config", "set", "render.timeout", "42").code == 0
    assert "timeout = 42.0" in _config(isolated_home).read_text()
    result = cli("config", "set", "server.secret_key", "s3cret-value")
    assert result.code == 0 and "s3cret-value" not in result.stderr + result.stdout
    assert stat.S_IMODE(_config(isolated_home).stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("set", "render.qualty", "low"), "unknown setting 'render.qualty'"),
        (
            ("set", "render.quality", "ultra"),
            "render.quality must be one of low, medium, high, production, 4k",
        ),
        (("set", "render.format", "avi"), "render.format must be one of"),
        (("set", "render.engine", "cloud"), "render.engine must be one of local, docker"),
        (("set", "render.timeout", "soon"), "must be a float"),
        (("set", "render.timeout", "0"), "render.timeout must be more than 0"),
        (("set", "render.memory", "lots"), "render.memory must be a size"),
        (("set", "cache.enabled", "maybe"), "must be true or false"),
        (("set", "generate.max_attempts", "0"), "generate.max_attempts must be at least 1"),
        (("set", "render.layout", "loud"), "render.layout must be warn, repair or off"),
        (("set", "client.server", "ftp://x"), "must start with http:// or https://"),
        (("unset", "nothing.here"), "unknown setting 'nothing.here'"),
    ],
)
def test_config_refuses_a_bad_key_or_value_and_keeps_the_file(cli, isolated_home, args, says):
    _config(isolated_home).write_text(CONFIG)
    result = cli("config", *args)
    assert_one_line_error(result, 2)
    assert says in result.stderr
    assert _config(isolated_home).read_text() == CONFIG
    doc = cli("config", *args, "--json")
    assert doc.code == 2 and doc.json()["success"] is False and says in doc.json()["error"]


def test_config_set_on_a_broken_file_is_a_configuration_error(cli, isolated_home):
    _config(isolated_home).write_text("[render\nquality = ")
    result = cli("config", "set", "render.quality", "high")
    assert_one_line_error(result, 3)
    assert "is not valid TOML" in result.stderr
    assert _config(isolated_home).read_text() == "[render\nquality = "


def test_config_set_says_when_an_env_var_overrides_it(cli, monkeypatch):
    monkeypatch.setenv("MANIMAGENT_RENDER_TIMEOUT", "7")
    result = cli("config", "set", "render.timeout", "99")
    assert result.code == 0
    assert "MANIMAGENT_RENDER_TIMEOUT is set and overrides" in result.stderr


# ---------------------------------------------------------------- posters, previews, --open (real renders)


@pytest.mark.slow
@needs_ffprobe
def test_render_writes_a_poster_a_preview_and_opens_the_video(fake_opener):
    result = run_cli_process(
        "render", str(EXAMPLES / "circle.py"), "--preview", "--open", "--json", env=_with_opener(fake_opener)
    )
    assert result.code == 0, result.stderr
    doc = result.json()
    video, poster, preview = Path(doc["output_path"]), Path(doc["poster_path"]), Path(doc["preview_path"])
    assert poster == video.with_suffix(".png") and preview == video.with_name(f"{video.stem}.preview.gif")
    assert probe(poster)["codec_name"] == "png"
    assert (probe(poster)["width"], probe(poster)["height"]) == (
        probe(video)["width"],
        probe(video)["height"],
    )
    gif = probe(preview)
    assert gif["codec_name"] == "gif" and gif["width"] == 480 and gif["r_frame_rate"] == "12/1"
    assert abs(video_duration(preview) - video_duration(video)) < 0.25
    assert (fake_opener / "opened.txt").read_text().splitlines() == [str(video)]

    shown = run_cli_process("executions", "show", "last")
    assert f"poster: {poster}" in shown.stdout
    row = run_cli_process("executions", "show", "last", "--json").json()
    assert row["poster_path"] == str(poster) and row["poster_url"] is None
    listed = run_cli_process("executions", "list", "--json").json()
    assert listed[0]["poster_path"] == str(poster)


@pytest.mark.slow
@needs_ffprobe
def test_the_poster_is_a_frame_of_the_last_second(tmp_path):
    """A scene that ends on a red square: the poster is red, not the white circle it starts with."""
    scene = tmp_path / "ends_red.py"
    scene.write_text(
        "from manim import *\nclass EndsRed(Scene):\n    def construct(self):\n"
        "        self.add(Circle(color=WHITE, fill_opacity=1))\n        self.wait(1)\n"
        "        self.play(Transform(self.mobjects[0], Square(color=RED, fill_opacity=1, side_length=6)),"
        " run_time=0.5)\n"
        "        self.wait(1.5)\n"
    )
    doc = run_cli_process("render", str(scene), "--json").json()
    from PIL import Image

    with Image.open(doc["poster_path"]) as image:
        red, green, blue = image.convert("RGB").getpixel((image.width // 2, image.height // 2))
    assert red > 150 and green < 100 and blue < 100, (red, green, blue)


@pytest.mark.slow
def test_without_a_display_open_says_so_and_does_not_fail(fake_opener, monkeypatch):
    _no_display(monkeypatch)
    result = run_cli_process(
        "render", str(EXAMPLES / "circle.py"), "--open", env=_with_opener(fake_opener, display=False)
    )
    assert result.code == 0, result.stderr
    assert result.stdout.strip().endswith(".mp4")
    said = [line for line in result.stderr.splitlines() if line.startswith("--open:")]
    assert len(said) == 1 and "no display" in said[0]
    assert not (fake_opener / "opened.txt").exists()


@pytest.mark.slow
@needs_ffprobe
def test_scripts_execute_and_generate_take_open_and_preview(fake_opener):
    script = run_cli_process("scripts", "import", str(EXAMPLES / "circle.py")).stdout.strip()
    executed = run_cli_process(
        "scripts", "execute", script, "--preview", "--open", env=_with_opener(fake_opener)
    )
    assert executed.code == 0, executed.stderr
    video, preview = executed.stdout.splitlines()
    assert preview.endswith(".preview.gif") and probe(preview)["width"] == 480
    generated = run_cli_process(
        "generate", "Animate a circle", "--preview", "--open", "--json", env=_with_opener(fake_opener)
    )
    assert generated.code == 0, generated.stderr
    doc = generated.json()
    assert (
        probe(doc["preview_path"])["codec_name"] == "gif" and probe(doc["poster_path"])["codec_name"] == "png"
    )
    assert (fake_opener / "opened.txt").read_text().splitlines() == [video, doc["output_path"]]


@pytest.mark.slow
@needs_ffprobe
def test_a_cached_execution_gets_its_own_poster(tmp_path, monkeypatch):
    monkeypatch.setenv("MANIMAGENT_RENDER_CACHE", "1")
    scene = tmp_path / "blink.py"
    scene.write_text(SHORT)
    first = run_cli_process("render", str(scene), "--json").json()
    second = run_cli_process("render", str(scene), "--json").json()
    row = run_cli_process("executions", "show", second["execution_id"], "--json").json()
    assert row["status"] == "cached" and row["cached_from"] == first["execution_id"]
    assert second["poster_path"] != first["poster_path"]
    assert Path(second["poster_path"]).parent == Path(second["output_path"]).parent
    assert probe(second["poster_path"])["codec_name"] == "png"
    # deleting the first script takes its poster; the cached one, in its own folder, stays
    assert run_cli_process("scripts", "rm", first["script_id"], "--yes").code == 0
    assert not Path(first["poster_path"]).exists() and not Path(first["output_path"]).exists()
    assert Path(second["poster_path"]).is_file() and Path(second["output_path"]).is_file()
    assert run_cli_process("scripts", "rm", second["script_id"], "--yes").code == 0
    assert not Path(second["poster_path"]).exists()


@pytest.mark.slow
@needs_ffprobe
def test_a_gif_and_a_joined_video_get_posters(tmp_path):
    gif = run_cli_process("render", str(EXAMPLES / "circle.py"), "--format", "gif", "--json").json()
    assert gif["output_path"].endswith(".gif") and gif["poster_path"] == gif["output_path"][:-4] + ".png"
    assert probe(gif["poster_path"])["codec_name"] == "png"
    joined = run_cli_process("render", str(EXAMPLES / "two_scenes.py"), "--json").json()
    assert Path(joined["output_path"]).name == "all_scenes.mp4"
    assert (
        Path(joined["poster_path"]).name == "all_scenes.png"
        and probe(joined["poster_path"])["codec_name"] == "png"
    )


@pytest.mark.slow
def test_an_image_is_its_own_poster_and_has_no_preview(tmp_path):
    scene = tmp_path / "card.py"
    scene.write_text(STILL)
    result = run_cli_process("render", str(scene), "--preview", "--json")
    assert result.code == 0, result.stderr
    doc = result.json()
    assert (
        doc["output_path"].endswith(".png")
        and doc["poster_path"] == doc["output_path"]
        and doc["preview_path"] is None
    )
    assert "No preview" in result.stderr
    assert run_cli_process("executions", "show", "last", "--json").json()["poster_path"] == doc["output_path"]


def test_open_and_preview_are_refused_for_a_batch(tmp_path):
    for flag in ("--open", "--preview"):
        result = run_cli_process("render", str(EXAMPLES / "circle.py"), str(EXAMPLES / "equation.py"), flag)
        assert_one_line_error(result, 2)
        assert f"{flag} goes with one render" in result.stderr


@pytest.mark.slow
def test_a_failed_render_has_no_poster_and_opens_nothing(tmp_path, fake_opener):
    scene = tmp_path / "broken.py"
    scene.write_text(
        "from manim import *\nclass Broken(Scene):\n    def construct(self):\n"
        "        self.play(Create(Circle()))\n        raise ValueError('kaboom')\n"
    )
    result = run_cli_process(
        "render", str(scene), "--open", "--preview", "--json", env=_with_opener(fake_opener)
    )
    assert result.code == 1
    doc = result.json()
    assert doc["poster_path"] is None and doc["preview_path"] is None
    assert run_cli_process("executions", "show", "last", "--json").json()["poster_path"] is None
    assert not (fake_opener / "opened.txt").exists()


# ---------------------------------------------------------------- the poster over REST


@pytest.mark.slow
@pytest.mark.server
def test_the_server_serves_the_poster_to_its_owner_only(tmp_path):
    from server_fixtures import start_server

    server = start_server(tmp_path / "served")
    try:
        alice, bob = server.account("alice@example.com"), server.account("bob@example.com")
        script = server.post(
            "/api/agents/scripts/import/",
            json={"code": (EXAMPLES / "circle.py").read_text()},
            headers=alice.headers,
        ).json()
        result = server.post(f"/api/agents/scripts/{script['id']}/execute/", headers=alice.headers).json()
        assert result["poster_url"] and "sig=" in result["poster_url"]
        signed = server.get(result["poster_url"])  # no Bearer: the signature is enough
        assert (
            signed.status_code == 200
            and signed.headers["content-type"] == "image/png"
            and signed.content.startswith(b"\x89PNG")
        )
        row = server.get(f"/api/agents/executions/{result['execution_id']}/", headers=alice.headers).json()
        assert row["poster_url"] and row["poster_path"] == result["poster_path"]
        listed = server.get("/api/agents/executions/", headers=alice.headers).json()
        assert listed[0]["poster_url"]

        endpoint = f"/api/agents/executions/{result['execution_id']}/poster/"
        mine = server.get(endpoint, headers=alice.headers)
        assert (
            mine.status_code == 200
            and mine.headers["content-type"] == "image/png"
            and mine.content == signed.content
        )
        assert server.get(endpoint, headers=bob.headers).status_code == 404
        assert server.get(endpoint).status_code == 401

        from urllib.parse import urlsplit

        media = urlsplit(result["poster_url"]).path
        assert server.get(media, headers=alice.headers).status_code == 200
        assert server.get(media, headers=bob.headers).status_code == 404
        assert server.get(media).status_code == 404

        failed = server.post(
            "/api/agents/scripts/import/",
            json={"code": SHORT.replace("run_time=0.3)", "run_time=0.3)\n        raise ValueError('x')")},
            headers=alice.headers,
        ).json()
        broken = server.post(f"/api/agents/scripts/{failed['id']}/execute/", headers=alice.headers).json()
        assert broken["success"] is False and broken["poster_url"] is None
        assert (
            server.get(
                f"/api/agents/executions/{broken['execution_id']}/poster/", headers=alice.headers
            ).status_code
            == 404
        )
    finally:
        server.stop()


def test_help_after_install_completion_only_shows_help(tmp_path):
    home = tmp_path / "user"
    home.mkdir()
    done = _from_shell(tmp_path, "bash", "--install-completion --help", env={"HOME": str(home)})
    assert done.returncode == 0 and "Usage: manimagent" in done.stdout
    assert list(home.iterdir()) == []


def test_an_unreadable_video_has_no_poster_and_its_preview_is_a_notice(tmp_path, capsys):
    from manimagent.cli.look import with_preview
    from manimagent.render.poster import make_poster
    from manimagent.schemas import ExecuteResult

    folder = tmp_path / "videos"
    folder.mkdir()
    broken = folder / "Broken.mp4"
    broken.write_bytes(b"not a video at all")
    assert make_poster(broken) is None and not (folder / "Broken.png").exists()
    result = ExecuteResult(success=True, script_id="s", output_path=str(broken), status="successful")
    assert with_preview(result, True) == result
    assert "No preview: could not read Broken.mp4" in capsys.readouterr().err
    assert list(folder.iterdir()) == [broken]  # no partial file left behind


def test_generate_without_a_render_has_nothing_to_preview_or_open(cli, fake_opener, monkeypatch):
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setenv("PATH", f"{fake_opener}{os.pathsep}{os.environ['PATH']}")
    result = cli("generate", "Animate a circle", "--no-execute", "--preview", "--open", "--json")
    assert result.code == 0, result.stderr
    assert result.json()["preview_path"] is None and result.json()["output_path"] is None
    assert "No preview" not in result.stderr and "--open:" not in result.stderr
    assert not (fake_opener / "opened.txt").exists()
