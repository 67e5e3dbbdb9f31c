"""Names manim removed or renamed, derived from its changelogs (0.18 -> 0.22) and older CE drift.

Only the derived table is kept here, never the changelog text. Each entry says what replaces the
old name; `grounding.py` applies an entry only when the installed manim confirms the new name.
"""

from __future__ import annotations

# removed or renamed top-level names -> their replacement (source text)
NAME_RENAMES: dict[str, str] = {
    "TypstMath": "MathTypst",  # 0.21 (#4925)
    "ShowCreationThenFadeOut": "ShowPassingFlash",  # removed 0.18.1 (#3688)
    "ShowPassingFlashAround": "ShowPassingFlash",
    "CircleIndicate": "Circumscribe",
    "TextMobject": "Tex",
    "TexMobject": "MathTex",
    "ShowCreation": "Create",
    "ParametricSurface": "Surface",
    "OpenGLSurface": "Surface",
    "DrawBorderThenFillFromEdge": "DrawBorderThenFill",
    "WriteFromCenter": "Write",
    "SurroundingRect": "SurroundingRectangle",
    "ThreeDAxes3D": "ThreeDAxes",
    "Arrow3d": "Arrow3D",
}

# attribute that became a method (call it) or was renamed: (class or "*", old) -> new source text
ATTRIBUTE_RENAMES: dict[tuple[str, str], str] = {
    ("Code", "styles_list"): "get_styles_list()",  # 0.19 (#3797)
    ("*", "get_graph"): "plot",
    ("*", "get_parametric_curve"): "plot_parametric_curve",
    ("*", "add_coordinate_labels"): "add_coordinates",
}

# keyword renamed: (callable, old) -> new. The callable is a class or a method name.
KEYWORD_RENAMES: dict[tuple[str, str], str] = {
    ("Code", "code"): "code_string",  # 0.19 rewrite (#4115)
    ("Code", "file_name"): "code_file",
    ("Code", "style"): "formatter_style",
    ("Code", "insert_line_no"): "add_line_numbers",
    ("Code", "line_no_from"): "line_numbers_from",
    ("from_hex", "hex"): "hex_str",  # 0.19 (#3884)
    ("next_section", "type"): "section_type",
    ("Sector", "outer_radius"): "radius",  # 0.19 (#3922)
}

# keywords a class dropped with no replacement: removing them keeps the intent (layout only)
KEYWORDS_DROPPED: dict[str, frozenset[str]] = {
    "Code": frozenset(
        {
            "font",
            "font_size",
            "line_spacing",
            "stroke_width",
            "margin",
            "background_stroke_width",
            "background_stroke_color",
            "corner_radius",
            "line_no_buff",
            "indentation_chars",
            "generate_html_file",
            "warn_missing_font",
        }
    ),  # 0.19 rewrite (#4115)
    "Sector": frozenset({"inner_radius"}),  # 0.19 (#3922): only with inner_radius=0, see grounding
}

# pairs of old bounds that became one range keyword (old CE and ManimGL): (min, max) -> range
RANGE_KEYWORDS: dict[tuple[str, str], str] = {
    ("u_min", "u_max"): "u_range",
    ("v_min", "v_max"): "v_range",
    ("t_min", "t_max"): "t_range",
    ("x_min", "x_max"): "x_range",
    ("y_min", "y_max"): "y_range",
}

# modules a script uses without importing them: `import NAME` fixes them
STDLIB_MODULES = frozenset(
    {
        "math",
        "random",
        "itertools",
        "functools",
        "colorsys",
        "string",
        "operator",
        "collections",
        "cmath",
        "copy",
    }
)
# numpy constants LLMs write bare
NUMPY_CONSTANTS = frozenset({"pi", "inf", "nan", "newaxis"})

# plugins a script may import: the install command an error should name
PLUGIN_INSTALL: dict[str, str] = {
    "manim_physics": "pip install --no-deps manim-physics",  # its manim < 0.19 pin would downgrade manim
    "manim_voiceover": 'pip install "manim-voiceover[all]"',
    "manim_slides": "pip install manim-slides",
    "manim_chemistry": "pip install manim-chemistry",
    "manim_ml": "pip install manim-ml",
    "manim_fonts": "pip install manim-fonts",
    "manim_editor": "pip install manim-editor",
    "typst": 'pip install "manim[typst]"',
}
