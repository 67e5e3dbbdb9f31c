"""The offline provider and its recipes: matching, safe code for any prompt, no LaTeX when told,
the repair ladder, and (slow) a real manim render of every recipe, with LaTeX hidden when the
script was written without it."""

from __future__ import annotations

import ast
import builtins
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from manimagent.providers.base import Message, ProviderConfig
from manimagent.providers.offline import (
    LATEX_LINE,
    REPAIR_MARK,
    REQUEST_CLOSE,
    REQUEST_OPEN,
    OfflineProvider,
    extract_request,
    latex_line,
)
from manimagent.providers.offline_recipes import (
    COLOUR_WORDS,
    PALETTE,
    RECIPES,
    compose_minimal_scene,
    compose_scene,
    compose_title_card,
    match_recipes,
)

RECIPE_IDS = [recipe.name for recipe in RECIPES]
HOSTILE_PROMPTS = {
    "double_quotes": 'say "hello" and "bye"',
    "triple_quotes": 'a title """; import os; os.system("rm -rf /") #""" circle',
    "single_triple": "'''",
    "backslashes": "a circle \\ with \\n backslashes \\\\ and \\'",
    "braces": "a {red} square {{}} with {0} and {name!r} braces",
    "newlines": "a square\nthat\n\nrotates\r\nnow",
    "code_injection": '")\n        import os\n        os.system("echo pwned")\n#',
    "unicode": "un cercle rouge — 円を描く 🎉 ünïcödé ∑ ∫ √",
    "surrogates_and_controls": "a circle \ud800 with \x00 nul \x1b[31m escapes \u202e",
    "huge": "a very long prompt " * 6000,  # ~114 KB
    "huge_word": "x" * 100_000,
    "empty": "",
    "blank": "   \n\t  ",
    "punctuation": "???!!!...",
    "latex_injection": 'show the equation x^2 = \\input{/etc/passwd} and "\\end{document}"',
    "bad_math": "show the equation y = x^ and a = ((b",
    "quoted_only": '"',
}
LATEX_ONLY_CALLS = {
    "MathTex",
    "Tex",
    "SingleStringMathTex",
    "Matrix",
    "IntegerMatrix",
    "DecimalMatrix",
    "MobjectMatrix",
    "Title",
    "BulletedList",
    "Variable",
    "Integer",
    "BraceLabel",
    "BraceText",
    "MathTable",
    "DecimalTable",
    "IntegerTable",
}


# --------------------------------------------------------------------------------------------
# Helpers


@pytest.fixture(scope="module")
def manim_names() -> set[str]:
    """What `from manim import *` defines, read in a child process (manim stays out of ours)."""
    code = "import json; ns = {}; exec('from manim import *', ns); print(json.dumps(sorted(ns)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def scene_classes(code: str) -> list[str]:
    tree = ast.parse(code)
    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.ClassDef)
        and any(isinstance(base, ast.Name) and base.id == "Scene" for base in node.bases)
    ]


def unbound_names(code: str) -> set[str]:
    """Names the script reads but never binds itself: they must come from manim or builtins."""
    tree = ast.parse(code)
    loaded, bound = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bound.add(node.name)
    return loaded - bound - set(dir(builtins))


def _call_name(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def _keywords(node: ast.Call) -> dict[str, str]:
    return {kw.arg: ast.unparse(kw.value) for kw in node.keywords if kw.arg}


def latex_needs(code: str) -> list[str]:
    """Everything in `code` that would run LaTeX in manim 0.22 (empty means LaTeX-free)."""
    found = []
    for node in ast.walk(ast.parse(code)):
        if not isinstance(node, ast.Call):
            continue
        name, keywords, source = _call_name(node), _keywords(node), ast.unparse(node)
        if name in LATEX_ONLY_CALLS:
            found.append(source)
        elif name == "DecimalNumber" and keywords.get("mob_class") != "Text":
            found.append(source)
        elif name == "get_axis_labels" and (
            node.args or any(v.startswith(("'", '"')) for v in keywords.values())
        ):
            found.append(source)
        elif name == "get_bar_labels" and keywords.get("label_constructor") != "Text":
            found.append(source)
        elif name == "BarChart" and not all(
            "'label_constructor': Text" in keywords.get(k, "") for k in ("x_axis_config", "y_axis_config")
        ):
            found.append(source)
        elif name in AXES_CALLS and "include_numbers" in source and "label_constructor" not in source:
            found.append(source)
        elif name in ("add_coordinates", "add_numbers") and not _axes_label_with_text(code):
            found.append(source)
    return found


AXES_CALLS = {"Axes", "NumberPlane", "NumberLine", "ComplexPlane", "PolarPlane"}


def _axes_label_with_text(code: str) -> bool:
    """Whether every axes-like object in `code` is built with Text labels."""
    calls = [n for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Call) and _call_name(n) in AXES_CALLS]
    return all(
        "'label_constructor': Text" in ast.unparse(c) or "label_constructor=Text" in ast.unparse(c)
        for c in calls
    )


def numpy_points(code: str) -> list[str]:
    """Every np.array([...]) literal of numbers/expressions that is not 3-D."""
    bad = []
    for node in ast.walk(ast.parse(code)):
        if (
            isinstance(node, ast.Call)
            and ast.unparse(node.func) == "np.array"
            and node.args
            and isinstance(node.args[0], ast.List)
            and len(node.args[0].elts) != 3
        ):
            bad.append(ast.unparse(node))
    return bad


def all_variants() -> list:
    """Every recipe once without LaTeX, and once more with LaTeX when that changes the code."""
    params = []
    for recipe in RECIPES:
        plain = compose_scene(recipe.example, latex=False)
        params.append(pytest.param(recipe.example, False, id=f"{recipe.name}-nolatex"))
        if compose_scene(recipe.example, latex=True) != plain:
            params.append(pytest.param(recipe.example, True, id=f"{recipe.name}-latex"))
    return params


def messages_for(request: str, *, latex: bool, repair_code: str | None = None) -> list[Message]:
    user = f"Write a Manim scene.\n{REQUEST_OPEN}\n{request}\n{REQUEST_CLOSE}\n"
    if repair_code is not None:
        user += f"{REPAIR_MARK}\nThis code failed:\n```python\n{repair_code}\n```\nValueError: boom\n"
    return [Message("system", f"You write Manim.\n{latex_line(latex)}\nRules..."), Message("user", user)]


def provider() -> OfflineProvider:
    return OfflineProvider(ProviderConfig(name="offline", provider_type="offline"), api_key=None)


def code_of(text: str) -> str:
    match = re.fullmatch(r"```python\n(.*)\n```\n?", text, re.DOTALL)
    assert match, text[:200]
    return match.group(1)


# --------------------------------------------------------------------------------------------
# The recipe library


def test_there_are_at_least_25_distinct_recipes():
    names = [recipe.name for recipe in RECIPES]
    assert len(names) >= 25
    assert len(set(names)) == len(names)
    assert all(recipe.keywords and recipe.example for recipe in RECIPES)


def test_no_two_recipes_absorb_each_other():
    absorbs = {recipe.name: set(recipe.absorbs) for recipe in RECIPES}
    for name, absorbed in absorbs.items():
        assert absorbed <= set(absorbs), absorbed - set(absorbs)
        assert not any(name in absorbs[other] for other in absorbed), name


@pytest.mark.parametrize("recipe", RECIPES, ids=RECIPE_IDS)
def test_every_recipe_is_matched_by_its_example(recipe):
    assert recipe in match_recipes(recipe.example)


@pytest.mark.parametrize(
    "prompt, expected",
    [
        ("Animate a circle", ["circle"]),
        ("a red square rotating into a blue circle", ["square", "rotate", "transform", "circle"]),
        ("Plot sin(x) and cos(x)", ["sine_graph", "cosine_graph"]),
        ("The Pythagorean theorem with squares on the sides of a triangle", ["pythagorean_theorem"]),
        ("a sine wave traced by a rotating point on the unit circle", ["unit_circle_sine"]),
        ("a dot moving along the number line", ["number_line"]),
        ("plot the square root function", ["sqrt_graph"]),
        ("plot y = x^2", ["parabola_graph"]),
        ("show x^2 + y^2 = 1", ["equation"]),
        ("derive the quadratic formula", ["quadratic_formula"]),
        ("bubble sort on some bars", ["bubble_sort"]),
        ("plot a function", ["sine_graph"]),  # a generic plot is a sine
        ("a circle that is sort of blue", ["circle"]),  # 'sort' alone is weak
        ("Write a Manim scene showing a star", ["star"]),  # 'write' alone is weak
        ('a title "Intro" and then a square', ["title", "square"]),
        ('transform "Hello" into "World"', ["transform", "text"]),
        ("a line and a circle", ["line", "circle"]),  # 'line' is weak unless it follows 'a'
        ("a circle and several lines", ["circle"]),
        ("Explain photosynthesis to me", []),
        ("Explain how plants grow and turn light into sugar, in several lines please", []),  # prose
        ("", []),
    ],
)
def test_prompts_match_the_recipes_they_name(prompt, expected):
    assert [recipe.name for recipe in match_recipes(prompt)] == expected


def test_a_square_rotating_into_a_circle_is_one_story():
    code = compose_scene("a red square rotating into a blue circle", latex=True)
    assert scene_classes(code) == ["SquareToCircle"]
    assert "Square(side_length=2.2, color=RED" in code
    assert "Circle(radius=1.2, color=BLUE" in code
    assert code.index("Rotate(square") < code.index("ReplacementTransform(square, circle)")
    assert "clear_stage" not in code


def test_several_parts_are_cleared_between_and_keep_the_heading():
    code = compose_scene('title "Graphs", then a green star spinning, then plot sin(x)', latex=False)
    body = code[code.index("def construct") :]
    assert body.count("self.clear_stage(keep=heading)") == 2
    assert "Star(" in body and "Rotate(star, angle=TAU)" in body and "np.sin(x)" in body
    assert "Text('Graphs'" in body


def test_motions_follow_their_words():
    code = compose_scene("a square moves left, shrinks, then bounces and flashes", latex=False)
    assert "move_to(np.array([-3, 0, 0]))" in code
    assert ".scale(0.5)" in code
    assert "ease_out_bounce" in code and "Flash(square" in code
    assert "Rotate(triangle, angle=-90 * DEGREES)" in compose_scene(
        "rotate a triangle 90 degrees clockwise", latex=False
    )
    fading = compose_scene("a hexagon fades in, then fades out", latex=False)
    assert "FadeIn(polygon" in fading and fading.rstrip().endswith("run_time=0.8)")
    assert "set_color(RED)" in compose_scene("a blue circle turns red", latex=False)


def test_a_group_spins_each_shape_in_place():
    code = compose_scene("a circle, a square and a triangle spin", latex=False)
    assert "group = VGroup(circle, square, triangle)" in code
    assert "Rotate(shape, angle=TAU) for shape in group" in code


def test_counting_reads_its_range():
    code = compose_scene("count from 5 to 50", latex=False)
    assert "ValueTracker(5)" in code and "set_value(50)" in code
    assert "ValueTracker(10)" in compose_scene("a countdown", latex=False)


def test_colours_are_ones_manim_defines(manim_names):
    assert set(COLOUR_WORDS.values()) | set(PALETTE) <= manim_names
    assert "CYAN" not in compose_scene("a cyan circle", latex=False)


def test_typed_equations_become_latex_or_unicode_text():
    assert 'MathTex(r"E=mc^{2}"' in compose_scene("show E=mc^2", latex=True)
    assert "Text('E=mc²'" in compose_scene("show E=mc^2", latex=False)


# --------------------------------------------------------------------------------------------
# Safety: any prompt gives a valid, self-contained, deterministic script


def _all_prompts() -> list:
    prompts = [pytest.param(p, id=f"hostile-{k}") for k, p in HOSTILE_PROMPTS.items()]
    return prompts + [pytest.param(r.example, id=f"recipe-{r.name}") for r in RECIPES]


@pytest.mark.parametrize("latex", [True, False], ids=["latex", "nolatex"])
@pytest.mark.parametrize("prompt", _all_prompts())
def test_any_prompt_gives_one_valid_scene(prompt, latex, manim_names):
    code = compose_scene(prompt, latex=latex)
    tree = ast.parse(code)
    imports = [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert [ast.unparse(node) for node in imports] == ["from manim import *"]
    [scene] = scene_classes(code)
    assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", scene) and scene not in manim_names
    assert unbound_names(code) <= manim_names, unbound_names(code) - manim_names
    assert numpy_points(code) == []
    assert len(code) < 12_000
    called = {ast.unparse(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    assert not called & {"os.system", "exec", "eval", "open", "__import__"}


@pytest.mark.parametrize("prompt", [pytest.param(p, id=k) for k, p in HOSTILE_PROMPTS.items()])
def test_hostile_prompts_stay_strings(prompt):
    for latex in (True, False):
        code = compose_scene(prompt, latex=latex)
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert len(node.value) <= 200
                assert not any(ord(c) < 32 and c != "\n" or 0xD800 <= ord(c) <= 0xDFFF for c in node.value)
        code.encode("utf-8")  # writable as a file


def test_long_prompts_are_truncated_on_the_card():
    code = compose_title_card("word " * 20_000)
    card = ast.literal_eval(re.search(r"Text\(('.*?'), font_size", code).group(1))
    assert card.endswith("…") and card.count("\n") == 3 and len(card) < 140


def test_empty_prompt_shows_a_friendly_card():
    for prompt in ("", "  \n "):
        assert "Hello, Manim!" in compose_scene(prompt, latex=True)


def test_composition_is_deterministic_across_processes():
    prompts = [
        "a red square rotating into a blue circle",
        'title "X" then plot sin and cos',
        "a neural network",
    ]
    here = [compose_scene(p, latex=True) for p in prompts]
    assert here == [compose_scene(p, latex=True) for p in prompts]
    code = (
        "import json, sys; from manimagent.providers.offline_recipes import compose_scene; "
        f"print(json.dumps([compose_scene(p, latex=True) for p in {prompts!r}]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout
    assert json.loads(out) == here


@pytest.mark.parametrize(
    "prompt",
    [pytest.param(r.example, id=r.name) for r in RECIPES]
    + [
        pytest.param('title "T" then the Pythagorean theorem and the quadratic formula', id="combined"),
        pytest.param("show (a+b)^2 = a^2 + 2*a*b + b^2", id="typed-math"),
    ],
)
def test_without_latex_nothing_needs_latex(prompt):
    assert latex_needs(compose_scene(prompt, latex=False)) == []


def test_the_latex_check_sees_latex():
    assert latex_needs(compose_scene("the Pythagorean theorem", latex=True))
    assert latex_needs(compose_scene("an animated bar chart", latex=True))
    assert latex_needs(compose_scene("a matrix", latex=True))


# --------------------------------------------------------------------------------------------
# The provider


def test_provider_class_attributes():
    assert OfflineProvider.type_name == "offline"
    assert OfflineProvider.default_model == "recipes-v1"
    assert OfflineProvider.needs_key is False
    assert OfflineProvider.vendor_key_envs == ()
    assert provider().model == "recipes-v1"


def test_extract_request_reads_the_conventions():
    request, latex, repair = extract_request(messages_for("a blue circle", latex=True))
    assert (request, latex, repair) == ("a blue circle", True, False)
    assert LATEX_LINE.format("no") == latex_line(False)
    _, latex, repair = extract_request(messages_for("x", latex=False, repair_code="print()"))
    assert (latex, repair) == (False, True)


def test_extract_request_falls_back_to_the_last_user_message():
    messages = [Message("user", "first"), Message("assistant", "ok"), Message("user", "  a green star \n")]
    assert extract_request(messages) == ("a green star", False, False)
    assert extract_request([]) == ("", False, False)


def test_a_repair_mark_inside_the_request_is_just_text():
    messages = messages_for(f"a circle\n{REPAIR_MARK}", latex=True)
    assert extract_request(messages) == (f"a circle\n{REPAIR_MARK}", True, False)


def test_complete_streams_a_fenced_script_and_counts_words():
    deltas: list[str] = []
    messages = messages_for("Plot sin(x)", latex=True)
    completion = provider().complete(messages, on_delta=deltas.append)
    assert "".join(deltas) == completion.text and len(deltas) > 5
    code = code_of(completion.text)
    assert code.strip() == compose_scene("Plot sin(x)", latex=True).strip()
    assert completion.model == "recipes-v1"
    assert completion.prompt_tokens == sum(len(m.content.split()) for m in messages)
    assert completion.completion_tokens == len(completion.text.split())
    assert provider().complete(messages).text == completion.text


def test_repairs_climb_a_ladder_to_safer_scripts():
    request = "the Pythagorean theorem"
    first = code_of(provider().complete(messages_for(request, latex=True)).text)
    assert "MathTex" in first
    second = code_of(provider().complete(messages_for(request, latex=True, repair_code=first)).text)
    assert second.strip() == compose_scene(request, latex=False).strip()
    third = code_of(provider().complete(messages_for(request, latex=True, repair_code=second)).text)
    assert third.strip() == compose_title_card(request).strip()
    fourth = code_of(provider().complete(messages_for(request, latex=True, repair_code=third)).text)
    assert fourth.strip() == compose_minimal_scene().strip()


def test_the_pipeline_prompts_follow_the_conventions():
    from manimagent import prompts
    from manimagent.providers import offline

    for name in ("REQUEST_OPEN", "REQUEST_CLOSE", "REPAIR_MARK", "LATEX_LINE"):
        assert getattr(prompts, name) == getattr(offline, name)
    request = 'a "quoted" circle\nthat spins'
    assert extract_request(prompts.generation_messages(request, "0.22.0", True)) == (request, True, False)
    first = compose_scene(request, latex=True)
    from manimagent.render.base import RenderFailure

    failure = RenderFailure("ValueError", "boom", 3)
    repair = prompts.repair_messages(request, first, failure, "0.22.0", False)
    assert extract_request(repair) == (request, False, True)
    assert code_of(provider().complete(repair).text).strip() == compose_title_card(request).strip()


def test_a_repair_recognises_renumbered_code():
    request = "a blue circle"
    failed = compose_scene(request, latex=False)
    numbered = "\n".join(f"{i:3d} | {line}" for i, line in enumerate(failed.splitlines(), 1))
    answer = code_of(provider().complete(messages_for(request, latex=False, repair_code=numbered)).text)
    assert answer.strip() == compose_title_card(request).strip()


# --------------------------------------------------------------------------------------------
# Real renders (slow)


def _env_without_latex() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable)  # manim encodes with PyAV: no ffmpeg binary needed
    assert shutil.which("latex", path=env["PATH"]) is None
    return env


def render(code: str, tmp_path: Path, *, hide_latex: bool) -> Path:
    script = tmp_path / "scene.py"
    script.write_text(code, encoding="utf-8")
    [scene] = scene_classes(code)
    media = tmp_path / "media"
    command = [
        sys.executable,
        "-m",
        "manim",
        "render",
        "-ql",
        "--disable_caching",
        "--media_dir",
        str(media),
        str(script),
        scene,
    ]
    env = _env_without_latex() if hide_latex else None
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=240)
    videos = [p for p in media.rglob(f"{scene}.mp4") if "partial_movie_files" not in p.parts]
    assert done.returncode == 0 and videos, (done.stdout + done.stderr)[-3000:]
    return videos[0]


def video_seconds(video: Path) -> float:
    import av

    with av.open(str(video)) as container:
        return container.duration / 1_000_000


# One manim process renders every recipe of a variant, scene after scene, through manim's own
# Scene.render (what `manim render` calls): 74 processes importing manim cost more than the renders.
RENDER_MANY = """
import json, sys, traceback
from pathlib import Path
from manim import tempconfig

jobs = json.loads(Path(sys.argv[1]).read_text())
results = {}
for job in jobs:
    options = {"quality": "low_quality", "media_dir": job["media"], "disable_caching": True,
               "input_file": job["script"], "write_to_movie": True}
    try:
        with tempconfig(options):
            namespace = {"__name__": "scene"}
            exec(compile(Path(job["script"]).read_text(encoding="utf-8"), job["script"], "exec"), namespace)
            namespace[job["scene"]]().render()
        results[job["id"]] = ""
    except BaseException:
        results[job["id"]] = traceback.format_exc()[-3000:]
Path(sys.argv[2]).write_text(json.dumps(results))
"""


@pytest.fixture(scope="module")
def recipe_videos(tmp_path_factory) -> dict[tuple[str, bool], Path | str]:
    """(prompt, latex) -> the rendered video, or the traceback of its render."""
    found: dict[tuple[str, bool], Path | str] = {}
    variants = [param.values for param in all_variants()]
    for latex in (False, True):
        folder = tmp_path_factory.mktemp("latex" if latex else "nolatex")
        jobs = []
        for index, (prompt, wanted) in enumerate(variants):
            if wanted != latex:
                continue
            code = compose_scene(prompt, latex=latex)
            [scene] = scene_classes(code)
            script = folder / f"recipe_{index}.py"
            script.write_text(code, encoding="utf-8")
            jobs.append(
                {"id": str(index), "script": str(script), "scene": scene, "media": str(folder / f"m{index}")}
            )
        (folder / "jobs.json").write_text(json.dumps(jobs))
        env = _env_without_latex() if not latex else None
        done = subprocess.run(
            [sys.executable, "-c", RENDER_MANY, str(folder / "jobs.json"), str(folder / "results.json")],
            capture_output=True, text=True, cwd=folder, env=env, timeout=1800,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        errors = json.loads((folder / "results.json").read_text())
        for job in jobs:
            prompt = variants[int(job["id"])][0]
            videos = [
                p
                for p in Path(job["media"]).rglob(f"{job['scene']}.mp4")
                if "partial_movie_files" not in p.parts
            ]
            found[(prompt, latex)] = errors[job["id"]] or (videos[0] if videos else "no video written")
    return found


@pytest.mark.slow
@pytest.mark.parametrize("prompt, latex", all_variants())
def test_every_recipe_renders(prompt, latex, recipe_videos):
    video = recipe_videos[(prompt, latex)]
    assert isinstance(video, Path), video
    assert 1 <= video_seconds(video) <= 9


@pytest.mark.slow
@pytest.mark.parametrize(
    "code",
    [
        pytest.param(
            compose_scene(
                'title "Shapes & {braces}" then a red square into a star, then plot exp', latex=False
            ),
            id="three-parts",
        ),
        pytest.param(
            compose_scene(HOSTILE_PROMPTS["triple_quotes"] + HOSTILE_PROMPTS["unicode"], latex=False),
            id="hostile-card",
        ),
        pytest.param(compose_title_card(HOSTILE_PROMPTS["huge"]), id="huge-card"),
        pytest.param(compose_scene("show (a+b)^2 = a^2 + 2*a*b + b^2", latex=False), id="typed-math"),
        pytest.param(compose_minimal_scene(), id="minimal"),
    ],
)
def test_compositions_render_without_latex(code, tmp_path):
    video = render(code, tmp_path, hide_latex=True)
    assert video_seconds(video) <= 14
