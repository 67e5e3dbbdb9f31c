"""API grounding: the installed manim's API read in a child, grounded fixes, the repair prompt's facts.

Each fix has a minimal reproduction of its own; the API is the real one (introspected once per
test session: the `api` fixture of tests/conftest.py).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest

from manimagent.prompts import grounding_text, repair_messages
from manimagent.render.base import RenderFailure
from manimagent.scriptcheck.fixes import fix_after_failure
from manimagent.scriptcheck.grounding import grounding_facts, install_hint, parse_api_error
from manimagent.scriptcheck.manim_api import load_manim_api
from manimagent.scriptcheck.prepare import prepare_code

HEAD = "from manim import *\n\nclass A(Scene):\n    def construct(self):\n"


def scene(*lines: str) -> str:
    return HEAD + "".join(f"        {line}\n" for line in lines)


def fixed(code: str, error_type: str, message: str, api, line: int | None = None) -> tuple[str, list[str]]:
    new, fixes = fix_after_failure(code, RenderFailure(error_type, message, line), True, api)
    ast.parse(new)
    return new, [fix.description for fix in fixes]


def test_api_is_read_in_a_child_and_cached_per_version(tmp_path):
    api = load_manim_api(tmp_path)
    cached = list(tmp_path.glob("manim-api-*.json"))
    assert api is not None and len(cached) == 1 and api.version in cached[0].name
    assert {"Circle", "Code", "Surface", "np", "config"} <= api.names
    assert "code_string" in api.accepted_keywords("Code") and api.rejects_unknown_keywords("Circle")
    assert api.members("Code")["get_styles_list"] == "method"
    assert "u_range" in api.constructor("Surface").signature
    code = "import sys; import manimagent.scriptcheck.manim_api; print('manim' in sys.modules)"
    assert (
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()
        == "False"
    )


@pytest.mark.parametrize(
    "error_type, message, expected",
    [
        (
            "AttributeError",
            "'Rectangle' object has no attribute 'bottom_left'",
            ("attribute", "bottom_left", "Rectangle"),
        ),
        (
            "AttributeError",
            "type object 'Code' has no attribute 'styles_list'. Did you mean: 'x'?",
            ("attribute", "styles_list", "Code"),
        ),
        ("AttributeError", "module 'manim' has no attribute 'Box'", ("attribute", "Box", "manim")),
        (
            "AttributeError",
            "Circle object has no attribute 'bottom'",
            ("attribute", "bottom", "Circle"),
        ),  # Mobject.__getattr__
        (
            "TypeError",
            "Mobject.__init__() got an unexpected keyword argument 'label'",
            ("keyword", "label", "Mobject.__init__"),
        ),
        (
            "TypeError",
            "Axes.plot() got an unexpected keyword argument 'x_min'",
            ("keyword", "x_min", "Axes.plot"),
        ),
        ("NameError", "name 'Box' is not defined", ("name", "Box", None)),
        (
            "ImportError",
            "cannot import name 'ShowCreation' from 'manim' (/x/manim/__init__.py)",
            ("import", "ShowCreation", "manim"),
        ),
        (
            "ModuleNotFoundError",
            "No module named 'manim_physics'",
            ("module", "manim_physics", "manim_physics"),
        ),
    ],
)
def test_what_a_failure_names(error_type, message, expected):
    error = parse_api_error(RenderFailure(error_type, message))
    assert (error.kind, error.name, error.owner) == expected


def test_other_failures_name_nothing():
    assert parse_api_error(RenderFailure("ValueError", "operands could not be broadcast")) is None
    assert parse_api_error(RenderFailure("TypeError", "unsupported operand type(s)")) is None


def test_keyword_passed_through_to_mobject_is_dropped(api):
    code = scene('c = Circle(radius=1, label="x", color=RED)', "self.add(c)")
    new, fixes = fixed(
        code, "TypeError", "Mobject.__init__() got an unexpected keyword argument 'label'", api, 5
    )
    assert "Circle(radius=1, color=RED)" in new and "label" in fixes[0]


def test_keyword_misspelt_gets_the_one_near_keyword(api):
    new, _ = fixed(
        scene("c = Circle(fill_opactiy=0.5)"),
        "TypeError",
        "Mobject.__init__() got an unexpected keyword argument 'fill_opactiy'",
        api,
        5,
    )
    assert "Circle(fill_opacity=0.5)" in new


def test_code_keywords_of_the_019_rewrite(api):
    code = scene(
        'c = Code(code="x = 1", language="python", style="monokai", font="Monospace", insert_line_no=False)'
    )
    new, fixes = fixed(code, "TypeError", "Code.__init__() got an unexpected keyword argument 'code'", api, 5)
    assert (
        'Code(code_string="x = 1", language="python", formatter_style="monokai", add_line_numbers=False)'
        in new
    )
    assert len(fixes) == 4


def test_surface_bounds_become_ranges_in_one_step(api):
    code = scene("s = Surface(lambda u, v: np.array([u, v, 0]), u_min=-1, u_max=1, v_min=0, v_max=TAU)")
    new, _ = fixed(code, "TypeError", "Surface.__init__() got an unexpected keyword argument 'u_min'", api, 5)
    assert "u_range=[-1, 1], v_range=[0, TAU])" in new


def test_method_keyword_bounds(api):
    code = scene("ax = Axes()", "g = ax.plot(lambda x: x, x_min=0, x_max=2, color=RED)")
    new, _ = fixed(code, "TypeError", "Axes.plot() got an unexpected keyword argument 'x_min'", api, 6)
    assert "ax.plot(lambda x: x, x_range=[0, 2], color=RED)" in new


def test_code_styles_list_becomes_the_method(api):
    new, fixes = fixed(
        scene("styles = Code.styles_list"),
        "AttributeError",
        "type object 'Code' has no attribute 'styles_list'",
        api,
        5,
    )
    assert "Code.get_styles_list()" in new and fixes


def test_property_access_of_a_getter(api):
    new, _ = fixed(
        scene("c = Circle()", "p = c.bottom"),
        "AttributeError",
        "'Circle' object has no attribute 'bottom'",
        api,
        6,
    )
    assert "p = c.get_bottom()" in new


def test_attribute_without_a_confident_candidate_is_left_alone(api):
    code = scene("a = Axes()", "a.add_label(1)")
    assert fixed(code, "AttributeError", "'Axes' object has no attribute 'add_label'", api, 6) == (code, [])


def test_attribute_the_script_defines_is_not_manims(api):
    code = scene("self.bottom = 1", "p = self.bottom")
    assert fixed(code, "AttributeError", "'A' object has no attribute 'bottom'", api, 6) == (code, [])


@pytest.mark.parametrize(
    "line, name, expected",
    [
        ("x = sin(2)", "sin", "x = np.sin(2)"),
        ("x = pi / 2", "pi", "x = np.pi / 2"),
        ("t = Mathtex('x')", "Mathtex", "t = MathTex('x')"),
        ("t = TypstMath('x')", "TypstMath", "t = MathTypst('x')"),
    ],
)
def test_undefined_names_with_one_candidate(api, line, name, expected):
    new, _ = fixed(scene(line), "NameError", f"name '{name}' is not defined", api, 5)
    assert expected in new


def test_module_used_without_import_is_imported(api):
    new, _ = fixed(scene("x = random.random()"), "NameError", "name 'random' is not defined", api, 5)
    assert new.splitlines()[:2] == ["from manim import *", "import random"]


def test_invented_name_is_left_to_the_llm(api):
    code = scene("h = Histogram([1, 2])")
    assert fixed(code, "NameError", "name 'Histogram' is not defined", api, 5) == (code, [])


def test_import_of_a_removed_name(api):
    code = (
        "from manim import Scene, ShowCreation, Circle\n\nclass A(Scene):\n    def construct(self):\n"
        "        self.play(ShowCreation(Circle()))\n"
    )
    new, _ = fixed(
        code, "ImportError", "cannot import name 'ShowCreation' from 'manim' (/m/__init__.py)", api, 1
    )
    assert new.splitlines()[0] == "from manim import Scene, Create as ShowCreation, Circle"


def test_a_missing_plugin_names_its_install_command(api):
    failure = RenderFailure("ModuleNotFoundError", "No module named 'manim_physics'")
    assert install_hint(failure) == "pip install --no-deps manim-physics"
    assert fix_after_failure("from manim import *\n", failure, True, api) == ("from manim import *\n", [])
    assert "pip install --no-deps manim-physics" in grounding_text(grounding_facts("", failure, api))


def test_prompt_facts_carry_signature_members_and_three_nearest(api):
    failure = RenderFailure("AttributeError", "'Rectangle' object has no attribute 'bottom_left'", 6)
    text = grounding_text(grounding_facts(scene("r = Rectangle()", "self.add(r.bottom_left)"), failure, api))
    assert "signature: Rectangle(" in text and "height" in text
    assert "members: get_" in text and {"get_left", "get_bottom"} <= set(
        text.split("members: ")[1].split("\n")[0].split(", ")[:6]
    )
    nearest = text.split("nearest names: ")[1].split(", ")
    assert len(nearest) == 3 and "get_left" in nearest


def test_prompt_facts_for_a_keyword_list_what_the_class_takes(api):
    failure = RenderFailure("TypeError", "Mobject.__init__() got an unexpected keyword argument 'weight'", 5)
    text = grounding_text(grounding_facts(scene("c = Line(LEFT, RIGHT, weight=3)"), failure, api))
    assert "signature: Line(" in text and "stroke_width" in text


def test_repair_prompt_includes_the_grounding_text():
    failure = RenderFailure("NameError", "name 'Histogram' is not defined", 5)
    messages = repair_messages(
        "bars", scene("Histogram()"), failure, "0.22.0", True, grounding="Facts: BarChart(values)"
    )
    assert "Facts: BarChart(values)" in messages[-1].content
    plain = repair_messages(
        "bars", scene("x = 1 / 0"), RenderFailure("ZeroDivisionError", "division by zero", 5), "0.22.0", True
    )
    assert "Facts from the installed Manim" not in plain[-1].content


def test_repair_prompt_looks_the_facts_up_itself():
    failure = RenderFailure("NameError", "name 'Histogram' is not defined", 5)
    messages = repair_messages("bars", scene("Histogram()"), failure, "0.22.0", True)
    assert (
        "Facts from the installed Manim (the name `Histogram` does not exist there)" in messages[-1].content
    )


def test_before_a_render_a_missing_star_import_is_added():
    code = "class A(Scene):\n    def construct(self):\n        self.play(Create(Circle()))\n"
    prepared = prepare_code(code, _names(), has_latex=True, wanted=None, strict=True)
    assert prepared.code.startswith("from manim import *\n") and prepared.fixes[0].name == "add-import"


def test_before_a_render_rejected_keywords_of_manim_classes_are_fixed():
    code = scene('c = Circle(label="x", fill_opactiy=0.5)', "self.add(c)")
    prepared = prepare_code(code, _names(), has_latex=True, wanted=None, strict=True)
    assert "Circle(fill_opacity=0.5)" in prepared.code
    assert {fix.name for fix in prepared.fixes} == {"api-grounded"}


def test_before_a_render_a_users_own_class_is_not_checked():
    code = (
        "from manim import *\n\nclass Circle(VMobject):\n"
        "    def __init__(self, label=None, **kwargs):\n        super().__init__(**kwargs)\n\n"
    ) + scene('self.add(Circle(label="x"))').split("\n", 2)[2]
    prepared = prepare_code(code, _names(), has_latex=True, wanted=None, strict=True)
    assert prepared.code == code


def test_a_lowercase_name_becomes_a_class_only_where_it_is_called():
    # a snippet that never made `text`: the class Text in its place is no mobject either
    value = scene('self.play(Transform(text, Text("x")))')
    prepared = prepare_code(value, _names(), has_latex=True, wanted=None, strict=True)
    assert "Transform(text," in prepared.code and not prepared.fixes
    called = scene('t = text("x")', "self.add(t)")
    prepared = prepare_code(called, _names(), has_latex=True, wanted=None, strict=True)
    assert 't = Text("x")' in prepared.code


def test_a_script_that_defines_get_graph_keeps_calling_it():
    code = scene("g = self.get_graph(np.sin)", "self.add(g)") + (
        "\n    def get_graph(self, function):\n        return FunctionGraph(function)\n"
    )
    prepared = prepare_code(code, _names(), has_latex=True, wanted=None, strict=True)
    assert prepared.code == code and not prepared.fixes
    renamed = prepare_code(
        scene("g = axes.get_graph(np.sin)"), _names(), has_latex=True, wanted=None, strict=True
    )
    assert "axes.plot(np.sin)" in renamed.code


def _names() -> frozenset[str]:
    from manimagent.paths import cache_dir, get_paths
    from manimagent.scriptcheck.names import manim_names

    return manim_names(cache_dir(get_paths()))


@pytest.mark.slow
def test_an_attribute_failure_is_fixed_and_rendered_without_an_llm(cli, tmp_path):
    script = tmp_path / "scene.py"
    script.write_text(
        scene("c = Circle()", "d = Dot().move_to(c.bottom)", "self.play(Create(c), FadeIn(d))"),
        encoding="utf-8",
    )
    result = cli("render", str(script), "--max-attempts", "2", "--json")
    assert result.code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["attempts"] == 2 and document["outputs"][0].endswith(
        "A.mp4"
    )  # the user's scene, not a stand-in
    assert "get_bottom" in result.stderr
    shown = cli("scripts", "show", document["script_id"], "--json").json()
    assert "d = Dot().move_to(c.get_bottom())" in json.dumps(shown)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("FF8800", "#FF8800"),
        ("rgb(255, 0, 128)", "#FF0080"),
        ("light gray", "LIGHT_GRAY"),
        ("light blue", "#ADD8E6"),
        ("darkblue", "DARK_BLUE"),
        ("navy", "#000080"),
        ("cyan", "#00FFFF"),
    ],
)
def test_colours_manim_refuses_get_a_form_it_takes(api, value, expected):
    code = scene(f"c = Circle(color={value!r})", f"c.set_fill({value!r}, opacity=0.5)")
    new, fixes = fixed(code, "ValueError", f"Color {value} not found", api, 5)
    assert new.count(repr(expected)) == 2 and len(fixes) == 2


def test_a_colour_without_a_sure_form_is_left_alone(api):
    code = scene("c = Circle(color='sparkly')")
    assert fixed(code, "ValueError", "Color sparkly not found", api, 5) == (code, [])


def test_an_import_of_a_plugin_not_installed_warns_with_the_install_command():
    from manimagent.scriptcheck.check import check_script

    code = (
        "from manim import *\nfrom manim_chemistry import *\nimport math\n\nclass A(Scene):\n"
        "    def construct(self):\n        pass\n"
    )
    findings = [
        finding
        for finding in check_script(code, frozenset({"Scene"})).findings
        if finding.code == "missing-module"
    ]
    assert [(finding.severity, finding.line, finding.suggestion) for finding in findings] == [
        ("warning", 2, "pip install manim-chemistry")
    ]


@pytest.mark.parametrize(
    "lines, expected",
    [
        (["d = Dot([1, 2])"], "Dot([1, 2, 0])"),
        (["p = np.array([1, -2])", "d = Dot(p)"], "p = np.array([1, -2, 0])"),
        (
            ["v = VMobject()", "v.set_points_as_corners([[0, 0], [1, 1], [2, 0]])"],
            "[[0, 0, 0], [1, 1, 0], [2, 0, 0]]",
        ),
        (["t = Polygon((0, 0), (1, 0), (0, 1))"], "Polygon((0, 0, 0), (1, 0, 0), (0, 1, 0))"),
    ],
)
def test_2d_points_are_given_a_z_on_both_broadcast_messages(lines, expected):
    for message in [
        "could not broadcast input array from shape (2,) into shape (3,)",
        "could not broadcast input array from shape (1,2) into shape (1,3)",
    ]:
        new, fixes = fix_after_failure(scene(*lines), RenderFailure("ValueError", message, 5), True, None)
        assert expected in new and fixes


def test_a_pair_of_words_is_not_a_point():
    code = scene("d = Dot(['a', 'b'])")
    assert fix_after_failure(
        code, RenderFailure("ValueError", "could not broadcast (2,) into (3,)", 5), True, None
    ) == (code, [])


def test_a_plugin_scene_is_a_scene():
    from manimagent.scriptcheck.scenes import find_scenes

    code = (
        "from manim import *\nfrom manim_voiceover import VoiceoverScene\nfrom manim_physics import *\n\n"
        "class A(VoiceoverScene): pass\nclass B(SpaceScene): pass\nclass C(Helper): pass\n"
    )
    assert find_scenes(ast.parse(code)) == ["A", "B"]


def test_import_of_a_removed_name_keeps_its_alias(api):
    code = (
        "from manim import Scene, ShowCreation as SC, Circle\n\nclass A(Scene):\n    def construct(self):\n"
        "        self.play(SC(Circle()))\n"
    )
    new, _ = fixed(
        code, "ImportError", "cannot import name 'ShowCreation' from 'manim' (/m/__init__.py)", api, 1
    )
    assert new.splitlines()[0] == "from manim import Scene, Create as SC, Circle"


def test_import_of_a_removed_name_from_a_submodule_comes_from_manim(api):
    code = (
        "from manim import *\nfrom manim.mobject.opengl.opengl_surface import ParametricSurface\n\n"
        "class A(ThreeDScene):\n    def construct(self):\n"
        "        self.add(ParametricSurface(lambda u, v: np.array([u, v, 0])))\n"
    )
    message = (
        "cannot import name 'ParametricSurface' from 'manim.mobject.opengl.opengl_surface' "
        "(/m/opengl_surface.py)"
    )
    new, _ = fixed(code, "ImportError", message, api, 2)
    assert new.splitlines()[1] == "from manim import Surface as ParametricSurface"


VGROUP_ERROR = (
    "Only values of type VMobject can be added as submobjects of VGroup, but the value ImageMobject (at "
    "index 1 of parameter 0) is of type ImageMobject. You can try adding this value into a Group instead."
)


@pytest.mark.parametrize(
    "lines, line, expected",
    [
        (
            ["img = ImageMobject(np.zeros((4, 4, 3), dtype=np.uint8))", "g = VGroup(Circle(), img)"],
            6,
            "g = Group(Circle(), img)",
        ),
        (
            ["g = VGroup(Circle())", "img = ImageMobject(np.zeros((4, 4, 3), dtype=np.uint8))", "g.add(img)"],
            7,
            "g = Group(Circle())",
        ),
    ],
)
def test_a_vgroup_holding_a_non_vector_mobject_becomes_a_group(lines, line, expected):
    code = scene(*lines, "k = VGroup(Square())")
    new, fixes = fix_after_failure(code, RenderFailure("TypeError", VGROUP_ERROR, line), True, None)
    assert expected in new and "k = VGroup(Square())" in new and len(fixes) == 1


def test_a_method_keyword_the_method_rejects_is_dropped(api):
    code = scene("v = VMobject()", "v.scale(2, scale_tips=True)")
    new, fixes = fixed(
        code, "TypeError", "VMobject.scale() got an unexpected keyword argument 'scale_tips'", api, 6
    )
    assert "v.scale(2)" in new and fixes


def test_camera_frame_in_a_plain_scene_needs_a_moving_camera_scene(api):
    code = (
        scene("self.play(self.camera.frame.animate.scale(0.5))")
        + "\n\nclass B(Scene):\n    def construct(self):\n        pass\n"
    )
    new, fixes = fixed(code, "AttributeError", "'Camera' object has no attribute 'frame'", api, 5)
    assert "class A(MovingCameraScene):" in new and "class B(Scene):" in new and len(fixes) == 1


def test_opengl_fix_in_frame_becomes_the_cairo_equivalent(api):
    code = (
        "from manim import *\n\nclass A(ThreeDScene):\n    def construct(self):\n"
        "        t = Text('x').to_corner(UL)\n        t.fix_in_frame()\n        self.play(Write(t))\n"
    )
    new, fixes = fixed(code, "AttributeError", "Text object has no attribute 'fix_in_frame'", api, 6)
    assert "        self.add_fixed_in_frame_mobjects(t)\n" in new and len(fixes) == 1


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            't = Text("Fourier analysis", "breaks it down", font_size=24)',
            "Text('Fourier analysis breaks it down', font_size=24)",
        ),
        ('t = Text("ends with a space ", "x")', "Text('ends with a space x')"),
        ('t = MarkupText("<b>a</b>", "b")', "MarkupText('<b>a</b> b')"),
    ],
)
def test_text_given_several_strings_gets_them_joined(line, expected):
    prepared = prepare_code(scene(line, "self.add(t)"), _names(), has_latex=True, wanted=None, strict=True)
    assert expected in prepared.code and [fix.name for fix in prepared.fixes] == ["text-parts"]


@pytest.mark.parametrize(
    "line", ['t = Tex("a", "b")', 't = Text("a", 0.5)', 't = Text("one")', "t = Text(*parts)"]
)
def test_text_parts_leave_the_rest_alone(line):
    code = scene(line, "self.add(t)")
    assert prepare_code(code, _names(), has_latex=True, wanted=None, strict=True).code == code


def test_after_a_name_error_a_lowercase_name_used_as_a_value_is_not_made_a_class(api):
    code = scene('self.play(Transform(text, Text("x")))')
    assert fixed(code, "NameError", "name 'text' is not defined", api, 5) == (code, [])
    called, _ = fixed(scene('t = text("x")'), "NameError", "name 'text' is not defined", api, 5)
    assert 't = Text("x")' in called
