"""The offline provider's recipe library: a prompt's words become a deterministic Manim script.

`match_recipes` finds the recipes a prompt mentions (shapes, motions, text, equations, graphs,
classic demos); `compose_scene` writes one Scene that plays them in prompt order and clears the
stage between parts. Nothing here imports manim: the script is text, rendered in another process.

Layout rule every part follows: the frame is 14.2 x 8 units; a part keeps its content between
y = -3.7 and y = 2.8 so a heading can sit above it, and |x| < 6.9.
"""

from __future__ import annotations

import hashlib
import math
import re
import textwrap
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

# --------------------------------------------------------------------------------------------
# Colours: prompt words -> colour constants that manim really defines.

COLOUR_WORDS: dict[str, str] = {
    "red": "RED",
    "blue": "BLUE",
    "green": "GREEN",
    "yellow": "YELLOW",
    "orange": "ORANGE",
    "purple": "PURPLE",
    "violet": "PURPLE",
    "pink": "PINK",
    "magenta": "PINK",
    "teal": "TEAL",
    "cyan": "TEAL",
    "turquoise": "TEAL",
    "white": "WHITE",
    "gold": "GOLD",
    "golden": "GOLD",
    "gray": "GRAY",
    "grey": "GRAY",
    "silver": "LIGHT_GRAY",
    "maroon": "MAROON",
    "brown": "LIGHT_BROWN",
}
PALETTE = ("BLUE", "YELLOW", "GREEN", "RED", "PURPLE", "ORANGE", "TEAL", "PINK")

MAX_ANALYSED_CHARS = 2000
MAX_SECTIONS = 3
MAX_SHAPES = 4
EMPTY_PROMPT_CARD = "Hello, Manim!"


class Kind(Enum):
    SHAPE = "shape"  # build(word, colour) -> a constructor expression
    MOTION = "motion"  # build(subject, mention) -> lines acting on the subject
    TEXT = "text"  # build(stage) -> lines
    PLOT = "plot"  # build() -> FunctionSpec; all plots of a prompt share one pair of axes
    DEMO = "demo"  # build(stage) -> lines (equations and classic demos)


class Phase(Enum):
    INTRO = "intro"
    STEP = "step"
    OUTRO = "outro"


@dataclass(frozen=True)
class Recipe:
    """One thing a prompt can ask for: the words that select it and the code it becomes.

    `weak_keywords` select it only when no other shape or section was asked for by name;
    `absorbs` names recipes this one already shows (Pythagoras draws its own squares).
    `example` is a prompt that selects it (tests render every recipe from it).
    """

    name: str
    kind: Kind
    keywords: tuple[str, ...]
    build: Callable
    example: str
    scene_name: str = ""
    weak_keywords: tuple[str, ...] = ()
    absorbs: tuple[str, ...] = ()
    phase: Phase = Phase.STEP


@dataclass(frozen=True)
class Mention:
    """Where a prompt names a recipe, with the prompt text around it (for colours, arguments)."""

    recipe: Recipe
    start: int
    end: int
    keyword: str
    strong: bool
    before: str = ""
    after: str = ""


@dataclass(frozen=True)
class PromptFacts:
    """What compose_scene reads from a prompt."""

    display: str  # the prompt, cleaned for showing on screen
    text: str  # lower-case matching text, quoted parts blanked out
    quoted: tuple[str, ...]  # quoted strings to show as text
    math: str | None  # an equation typed in the prompt, e.g. "E=mc^2"
    colours: tuple[str, ...]  # colour constants in prompt order, except those naming a shape's colour
    mentions: tuple[Mention, ...]  # recipe mentions in prompt order, after absorbing


@dataclass(frozen=True)
class FunctionSpec:
    """A function to plot: Python expression in x, where it is drawn, and its labels."""

    expression: str
    branches: tuple[tuple[float, float], ...]
    y_range: tuple[float, float]
    latex_label: str
    text_label: str


@dataclass(frozen=True)
class Stage:
    """What a part of the scene can know: the prompt, LaTeX, the other parts."""

    facts: PromptFacts
    latex: bool
    names: frozenset[str]
    follows: bool = False  # another part comes after this one

    def colour(self, index: int = 0, default: str = "BLUE") -> str:
        colours = self.facts.colours
        return colours[index] if index < len(colours) else default

    def has(self, name: str) -> bool:
        return name in self.names


@dataclass
class Subject:
    """The shape (or group) that motions act on, and where the story has put it."""

    var: str
    colour: str
    x: float = 0.0
    y: float = 0.0
    scale: float = 1.0
    turns: list[str] = field(default_factory=list)  # rotations so far, as code
    is_group: bool = False


@dataclass
class Section:
    scene_name: str
    lines: list[str] = field(default_factory=list)
    keeps_heading: bool = False


# --------------------------------------------------------------------------------------------
# Small code-writing helpers.


def _block(text: str) -> list[str]:
    """A dedented multi-line code template as a list of lines."""
    return textwrap.dedent(text).strip("\n").splitlines()


def _raw(latex: str) -> str:
    """A LaTeX constant written as a raw string literal (repr when that would be unsafe)."""
    if '"' in latex or latex.endswith("\\") or "\n" in latex:
        return repr(latex)
    return f'r"{latex}"'


def _num(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _point(x: float, y: float) -> str:
    return f"np.array([{_num(x)}, {_num(y)}, 0])"


def _label(stage: Stage, latex: str, text: str, size: int = 40, colour: str = "WHITE") -> str:
    """A MathTex expression when LaTeX is there, otherwise a Text one with unicode maths."""
    if stage.latex:
        return f"MathTex({_raw(latex)}, font_size={size}, color={colour})"
    return f"Text({text!r}, font_size={int(size * 0.8)}, color={colour})"


def _number_config(stage: Stage, size: int = 24) -> str:
    """`axis_config` for numbered axes: Text numbers (no LaTeX) when LaTeX is missing."""
    if stage.latex:  # MathTex digits look smaller than Text ones at the same size
        return f'{{"include_numbers": True, "font_size": {int(size * 1.25)}}}'
    return f'{{"include_numbers": True, "font_size": {size}, "label_constructor": Text}}'


def _decimal(stage: Stage, value: str, places: int, size: int, colour: str) -> str:
    text_class = "" if stage.latex else ", mob_class=Text"
    return (
        f"DecimalNumber({value}, num_decimal_places={places}, font_size={size}, color={colour}{text_class})"
    )


def _caption(text: str, y: float = 2.45) -> list[str]:
    return [f"caption = Text({text!r}, font_size=34).move_to({_point(0, y)})"]


def _camel(word: str) -> str:
    return "".join(part.capitalize() for part in re.findall(r"[a-z0-9]+", word.lower())) or "Shape"


# --------------------------------------------------------------------------------------------
# Shapes.


@dataclass(frozen=True)
class ShapeSpec:
    template: str  # constructor with {colour}
    intro: str = "DrawBorderThenFill"


SHAPES: dict[str, ShapeSpec] = {
    "circle": ShapeSpec("Circle(radius=1.2, color={colour}, fill_opacity=0.5)"),
    "square": ShapeSpec("Square(side_length=2.2, color={colour}, fill_opacity=0.5)"),
    "triangle": ShapeSpec("Triangle(color={colour}, fill_opacity=0.5).scale(1.5)"),
    "rectangle": ShapeSpec("Rectangle(width=3.2, height=1.8, color={colour}, fill_opacity=0.5)"),
    "star": ShapeSpec("Star(n=5, outer_radius=1.4, color={colour}, fill_opacity=0.5)"),
    "polygon": ShapeSpec("RegularPolygon(n={sides}, color={colour}, fill_opacity=0.5).scale(1.3)"),
    "ellipse": ShapeSpec("Ellipse(width=3.4, height=2, color={colour}, fill_opacity=0.5)"),
    "arrow": ShapeSpec("Arrow(LEFT * 1.6, RIGHT * 1.6, buff=0, color={colour})", "GrowArrow"),
    "line": ShapeSpec("Line(LEFT * 1.8, RIGHT * 1.8, color={colour}, stroke_width=8)", "Create"),
    "dot": ShapeSpec("Dot(radius=0.3, color={colour})", "GrowFromCenter"),
}
POLYGON_SIDES = {"pentagon": 5, "hexagon": 6, "heptagon": 7, "octagon": 8, "polygon": 6}


def _shape_builder(name: str) -> Callable[[str, str], str]:
    def build(word: str, colour: str) -> str:
        sides = next((n for key, n in POLYGON_SIDES.items() if word.startswith(key)), 6)
        return SHAPES[name].template.format(colour=colour, sides=sides)

    return build


# --------------------------------------------------------------------------------------------
# Motions. Each builder writes the lines that act on `subject` and updates where it is.

DIRECTIONS = {
    "left": (-3.0, None),
    "right": (3.0, None),
    "across": (3.0, None),
    "up": (None, 1.2),
    "upward": (None, 1.2),
    "upwards": (None, 1.2),
    "down": (None, -1.2),
    "downward": (None, -1.2),
    "downwards": (None, -1.2),
}


def _first_word(text: str, words) -> str | None:
    found = [
        (m.start(), w) for w in words for m in [re.search(rf"(?<![a-z]){re.escape(w)}(?![a-z])", text)] if m
    ]
    return min(found)[1] if found else None


def _move_to(subject: Subject, x: float, y: float, run_time: float = 1.0) -> str:
    subject.x, subject.y = x, y
    return f"self.play({subject.var}.animate.move_to({_point(x, y)}), run_time={_num(run_time)})"


def build_move(subject: Subject, mention: Mention) -> list[str]:
    direction = _first_word(mention.after, DIRECTIONS)
    if direction is None:
        return [_move_to(subject, 3, subject.y, 0.8), _move_to(subject, 0, subject.y, 0.8)]
    x, y = DIRECTIONS[direction]
    return [_move_to(subject, subject.x if x is None else x, subject.y if y is None else y)]


def _rotation_angle(mention: Mention) -> str:
    degrees = re.search(r"(-?\d{1,4})\s*(?:°|deg\b|degrees?)", mention.after)
    if degrees:
        angle = f"{int(degrees.group(1))} * DEGREES"
    else:
        angle = "TAU" if mention.keyword.startswith(("spin", "spun", "twirl")) else "PI / 2"
    anticlockwise = re.search(r"counter[- ]?clockwise|anti[- ]?clockwise", mention.after)
    clockwise = not anticlockwise and re.search(r"(?<![a-z])clockwise", mention.after)
    return f"-{angle}" if clockwise else angle


def build_rotate(subject: Subject, mention: Mention) -> list[str]:
    angle = _rotation_angle(mention)
    if subject.is_group:  # each shape turns in its place
        return [f"self.play(*[Rotate(shape, angle={angle}) for shape in {subject.var}], run_time=1.2)"]
    subject.turns.append(angle)
    return [f"self.play(Rotate({subject.var}, angle={angle}), run_time=1.2)"]


SHRINK_WORDS = ("shrink", "shrank", "smaller", "scale down", "scaled down", "scales down")


def _scale_factor(subject: Subject, mention: Mention) -> float:
    asked = re.search(r"(\d+(?:\.\d+)?)\s*(?:x\b|times)", mention.after)
    factor = float(asked.group(1)) if asked else 0.5 if mention.keyword.startswith(SHRINK_WORDS) else 1.5
    factor = factor or 1.0
    return min(max(factor, 0.3 / subject.scale), 1.6 / subject.scale)


def build_scale(subject: Subject, mention: Mention) -> list[str]:
    factor = _scale_factor(subject, mention)
    if abs(factor - 1) < 0.05:  # already as big (or small) as the frame allows: pulse instead
        return [f"self.play({subject.var}.animate.scale(1.2), rate_func=there_and_back, run_time=0.8)"]
    subject.scale *= factor
    return [f"self.play({subject.var}.animate.scale({_num(factor)}), run_time=1)"]


def build_fade_in(subject: Subject, mention: Mention) -> list[str]:
    return [f"self.play(FadeIn({subject.var}, scale=0.5), run_time=1)"]


def build_fade_out(subject: Subject, mention: Mention) -> list[str]:
    return [f"self.play(FadeOut({subject.var}), run_time=0.8)"]


def build_grow_from_center(subject: Subject, mention: Mention) -> list[str]:
    return [f"self.play(GrowFromCenter({subject.var}), run_time=1)"]


def build_transform(subject: Subject, mention: Mention) -> list[str]:
    """Not called for its lines: the story writes transforms itself (they need a target)."""
    return []


def build_bounce(subject: Subject, mention: Mention) -> list[str]:
    height = 1.2 if subject.y <= 0 else 0.5
    return [
        (
            f"self.play({subject.var}.animate.shift(UP * {height}), run_time=0.4, "
            f"rate_func=rate_functions.ease_out_quad)"
        ),
        (
            f"self.play({subject.var}.animate.shift(DOWN * {height}), run_time=1, "
            f"rate_func=rate_functions.ease_out_bounce)"
        ),
    ]


def build_indicate(subject: Subject, mention: Mention) -> list[str]:
    word, var = mention.keyword, subject.var
    if word.startswith("flash"):
        return [f"self.play(Flash({var}, color=YELLOW, flash_radius={var}.width / 2 + 0.3), run_time=1)"]
    if word.startswith(("wiggl", "shak")):
        return [f"self.play(Wiggle({var}), run_time=1)"]
    if word.startswith(("circumscrib", "outlin")):
        return [f"self.play(Circumscribe({var}, color=YELLOW), run_time=1.2)"]
    return [f"self.play(Indicate({var}, color=YELLOW), run_time=1)"]


def build_recolor(subject: Subject, mention: Mention) -> list[str]:
    asked = _colours_in(mention.after)
    colour = asked[0] if asked else next(c for c in PALETTE if c != subject.colour)
    subject.colour = colour
    return [f"self.play({subject.var}.animate.set_color({colour}), run_time=0.8)"]


# --------------------------------------------------------------------------------------------
# Text: the heading and quoted strings.

TEXT_TRIGGERS = (
    r"saying|says|that reads|which reads|reads|titled|entitled|called|named",
    r"title|heading|headline|caption|message|the words?|text|write|writes|type",
)
FILLER_WORDS = {"card", "screen", "slide", "page", "that", "which", "with", "of", "the", "a", "an", "is"}
STOP_RE = re.compile(
    r"[.;!?,]| then | and then | followed by | with an? | and an? | next to | below | above ", re.I
)


def _trigger_phrase(prompt: str) -> str | None:
    """The words after 'saying', 'titled', 'write'... in the prompt, when there are some."""
    for triggers in TEXT_TRIGGERS:
        match = re.search(rf"(?<![a-z])(?:{triggers})(?![a-z])\s*[:\-]?\s*(.*)", prompt, re.I)
        if not match:
            continue
        body = STOP_RE.split(match.group(1))[0].split()
        while body and body[0].lower().strip(":") in FILLER_WORDS:
            body = body[1:]
        phrase = " ".join(body).strip("\"'“”‘’«» ")
        if phrase:
            return phrase
    return None


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _heading_text(stage: Stage) -> str:
    facts = stage.facts
    chosen = facts.quoted[0] if facts.quoted else _trigger_phrase(facts.display) or facts.display
    return _shorten(chosen or EMPTY_PROMPT_CARD, 40)


def _body_strings(stage: Stage) -> list[str]:
    quoted = list(stage.facts.quoted)
    if stage.has("title") and quoted:
        quoted = quoted[1:]
    if quoted:
        return [_shorten(q, 60) for q in quoted[:3]]
    phrase = _trigger_phrase(stage.facts.display) or stage.facts.display or EMPTY_PROMPT_CARD
    return [_shorten(phrase, 60)]


def build_title(stage: Stage) -> list[str]:
    lines = [
        f"heading = Text({_heading_text(stage)!r}, font_size=56)",
        "if heading.width > 12:",
        "    heading.scale_to_fit_width(12)",
        "self.play(Write(heading), run_time=1.2)",
        "self.wait(0.4)",
    ]
    if stage.follows:
        lines.append("self.play(heading.animate.scale(0.6).to_edge(UP, buff=0.35), run_time=0.8)")
    return lines


def build_text(stage: Stage) -> list[str]:
    strings = _body_strings(stage)
    colour = stage.colour(0, "WHITE")
    if stage.has("transform") and len(strings) >= 2:
        return _morphing_words(strings, colour)
    texts = ", ".join(f"Text({_wrap(s, 30)!r}, font_size=48, color={colour})" for s in strings)
    return [
        f"words = VGroup({texts}).arrange(DOWN, buff=0.5)",
        "if words.width > 12:",
        "    words.scale_to_fit_width(12)",
        "if words.height > 5.5:",
        "    words.scale_to_fit_height(5.5)",
        "self.play(Write(words), run_time=1.5)",
        "self.wait(0.8)",
    ]


def _morphing_words(strings: list[str], colour: str) -> list[str]:
    lines = []
    for index, string in enumerate(strings):
        lines += [
            f"words_{index} = Text({_wrap(string, 30)!r}, font_size=56, color={colour})",
            f"if words_{index}.width > 12:",
            f"    words_{index}.scale_to_fit_width(12)",
        ]
        if index == 0:
            lines.append("self.play(Write(words_0), run_time=1)")
        else:
            lines.append(
                f"self.play(TransformMatchingShapes(words_{index - 1}, words_{index}), run_time=1.2)"
            )
        lines.append("self.wait(0.4)")
    return lines


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width=width, break_long_words=True)[:3]) or EMPTY_PROMPT_CARD


# --------------------------------------------------------------------------------------------
# Equations.

SUPERSCRIPTS = str.maketrans("0123456789+-()ni", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁽⁾ⁿⁱ")


def _math_to_latex(math_text: str) -> str:
    latex = re.sub(r"\bsqrt\(([^()]*)\)", r"\\sqrt{\1}", math_text)
    latex = re.sub(r"\^\(([^()]*)\)", r"^{\1}", latex)
    latex = re.sub(r"\^([A-Za-z0-9]+)", r"^{\1}", latex)
    latex = re.sub(r"\bpi\b", r"\\pi ", latex)
    return latex.replace("*", r" \cdot ")


def _math_to_text(math_text: str) -> str:
    text = re.sub(
        r"\^\(([0-9+\-ni]*)\)|\^([0-9+\-ni]+)",
        lambda m: (m.group(1) or m.group(2)).translate(SUPERSCRIPTS),
        math_text,
    )
    text = re.sub(r"\bsqrt\b", "√", text)
    text = re.sub(r"\bpi\b", "π", text)
    return text.replace("*", "·").replace("-", "−")


def _equation_of_prompt(stage: Stage) -> tuple[str, str] | None:
    if stage.facts.math:
        return _math_to_latex(stage.facts.math), _math_to_text(stage.facts.math)
    if re.search(r"einstein|mass[- ]energy|e ?= ?mc", stage.facts.text):
        return "E = mc^2", "E = mc²"
    return None


def build_equation(stage: Stage) -> list[str]:
    typed = _equation_of_prompt(stage)
    if typed is None:
        return _solving_steps(stage)
    latex, text = typed
    return [
        f"equation = {_label(stage, latex, text, 80, stage.colour(0, 'WHITE'))}",
        "if equation.width > 12:",
        "    equation.scale_to_fit_width(12)",
        "self.play(Write(equation), run_time=1.5)",
        "self.play(Circumscribe(equation, color=YELLOW), run_time=1.2)",
        "self.wait(0.5)",
    ]


SOLVING_STEPS = (
    ("2x + 3 = 7", "2x + 3 = 7"),
    ("2x = 7 - 3", "2x = 7 − 3"),
    ("2x = 4", "2x = 4"),
    ("x = 2", "x = 2"),
)


def _solving_steps(stage: Stage) -> list[str]:
    lines = _caption("Solving an equation") + ["self.play(FadeIn(caption), run_time=0.5)"]
    for index, (latex, text) in enumerate(SOLVING_STEPS):
        lines.append(f"step_{index} = {_label(stage, latex, text, 80)}")
        if index == 0:
            lines.append("self.play(Write(step_0), run_time=1)")
        else:
            lines.append(f"self.play(TransformMatchingShapes(step_{index - 1}, step_{index}), run_time=0.9)")
    last = len(SOLVING_STEPS) - 1
    return lines + [f"self.play(Circumscribe(step_{last}, color=YELLOW), run_time=1)", "self.wait(0.4)"]


def build_pythagorean(stage: Stage) -> list[str]:
    """A 3-4-5 right triangle with the squares on its sides, then a^2 + b^2 = c^2."""
    a, b, c = stage.colour(0, "BLUE"), stage.colour(1, "GREEN"), stage.colour(2, "ORANGE")
    lines = _block(f"""
        legs = (1.5, 2.0)  # a 3-4-5 triangle at half scale
        corner, right, top = ORIGIN, RIGHT * legs[0], UP * legs[1]
        triangle = Polygon(corner, right, top, color=WHITE, stroke_width=5)
        square_a = Polygon(corner, right, right + DOWN * legs[0], DOWN * legs[0], color={a}, fill_opacity=0.5)
        square_b = Polygon(corner, top, top + LEFT * legs[1], LEFT * legs[1], color={b}, fill_opacity=0.5)
        outward = np.array([legs[1], legs[0], 0])
        square_c = Polygon(right, top, top + outward, right + outward, color={c}, fill_opacity=0.5)
        figure = VGroup(triangle, square_a, square_b, square_c)
        figure.move_to(LEFT * 2.6 + DOWN * 0.4)
    """)
    lines += [
        f"area_a = {_label(stage, 'a^2', 'a²', 40)}.move_to(square_a)",
        f"area_b = {_label(stage, 'b^2', 'b²', 40)}.move_to(square_b)",
        f"area_c = {_label(stage, 'c^2', 'c²', 40)}.move_to(square_c)",
        f"theorem = {_label(stage, 'a^2 + b^2 = c^2', 'a² + b² = c²', 60)}.move_to(RIGHT * 3.8 + UP * 0.6)",
        f"numbers = {_label(stage, '9 + 16 = 25', '9 + 16 = 25', 60)}.next_to(theorem, DOWN, buff=0.6)",
    ]
    return lines + _block("""
        self.play(Create(triangle), run_time=1)
        self.play(LaggedStart(DrawBorderThenFill(square_a), DrawBorderThenFill(square_b), DrawBorderThenFill(square_c), lag_ratio=0.4), run_time=2)
        self.bring_to_front(triangle)
        self.play(FadeIn(area_a), FadeIn(area_b), FadeIn(area_c), run_time=0.6)
        self.play(Write(theorem), run_time=1)
        self.play(FadeIn(numbers, shift=UP * 0.3), run_time=0.8)
        self.wait(0.5)
    """)


def build_quadratic_formula(stage: Stage) -> list[str]:
    lines = [f"problem = {_label(stage, 'ax^2 + bx + c = 0', 'ax² + bx + c = 0', 64)}.move_to(UP * 1.6)"]
    if stage.latex:
        lines.append(
            r'formula = MathTex(r"x = \frac{-b \pm \sqrt{b^2 - 4ac}}{2a}", font_size=72, color=YELLOW)'
        )
    else:
        lines += _block("""
            numerator = Text("−b ± √(b² − 4ac)", font_size=52, color=YELLOW)
            bar = Line(LEFT, RIGHT, color=YELLOW).set_width(numerator.width + 0.2)
            denominator = Text("2a", font_size=52, color=YELLOW)
            fraction = VGroup(numerator, bar, denominator).arrange(DOWN, buff=0.15)
            formula = VGroup(Text("x =", font_size=52, color=YELLOW), fraction).arrange(RIGHT, buff=0.3)
        """)
    return lines + _block("""
        formula.move_to(DOWN * 1.2)
        arrow = Arrow(problem.get_bottom(), formula.get_top(), buff=0.25, color=GRAY)
        self.play(Write(problem), run_time=1)
        self.play(GrowArrow(arrow), run_time=0.5)
        self.play(Write(formula), run_time=1.5)
        self.play(Circumscribe(formula, color=YELLOW), run_time=1)
        self.wait(0.4)
    """)


def build_euler_identity(stage: Stage) -> list[str]:
    if stage.latex:
        formula = r'MathTex(r"e^{i\theta} = \cos\theta + i\sin\theta", font_size=72)'
        identity = r'MathTex(r"e^{i\pi} + 1 = 0", font_size=96, color=YELLOW)'
    else:
        formula = 'MarkupText("e<sup>iθ</sup> = cos θ + i sin θ", font_size=56)'
        identity = 'MarkupText("e<sup>iπ</sup> + 1 = 0", font_size=80, color=YELLOW)'
    return (
        _caption("Euler's identity")
        + [f"formula = {formula}", f"identity = {identity}"]
        + _block("""
        self.play(FadeIn(caption), Write(formula), run_time=1.5)
        self.wait(0.5)
        self.play(TransformMatchingShapes(formula, identity), run_time=1.5)
        self.play(Circumscribe(identity, color=YELLOW), run_time=1)
        self.wait(0.4)
    """)
    )


# --------------------------------------------------------------------------------------------
# Function graphs: every plot the prompt names shares one pair of axes.

TAN_REACH = 1.32  # tan(1.32) ~ 3.9: each branch stops before it leaves the axes


def _spec(expression, domain, y_range, latex_label, text_label, branches=None) -> Callable[[], FunctionSpec]:
    spec = FunctionSpec(expression, branches or (domain,), y_range, latex_label, text_label)
    return lambda: spec


TAN_BRANCHES = tuple(
    (round(k * math.pi - TAN_REACH, 2), round(k * math.pi + TAN_REACH, 2)) for k in (-1, 0, 1)
)


def _axis_bounds(low: float, high: float) -> tuple[int, int, int]:
    low, high = min(low, -1), max(high, 1)
    step = 1 if high - low <= 10 else 2
    return step * math.floor(low / step), step * math.ceil(high / step), step


def _axes_lines(stage: Stage, specs: list[FunctionSpec]) -> list[str]:
    x_low, x_high, x_step = _axis_bounds(
        min(s.branches[0][0] for s in specs), max(s.branches[-1][1] for s in specs)
    )
    y_low, y_high, y_step = _axis_bounds(min(s.y_range[0] for s in specs), max(s.y_range[1] for s in specs))
    labels = (
        'x_label="x", y_label="y"'
        if stage.latex
        else 'x_label=Text("x", font_size=28), y_label=Text("y", font_size=28)'
    )
    return [
        "axes = Axes(",
        f"    x_range=[{x_low}, {x_high}, {x_step}],",
        f"    y_range=[{y_low}, {y_high}, {y_step}],",
        "    x_length=9.4,",
        "    y_length=5.6,",
        f"    axis_config={_number_config(stage)},",
        "    tips=False,",
        ").move_to(LEFT * 0.9 + DOWN * 0.55)",
        f"axis_labels = axes.get_axis_labels({labels})",
        "self.play(Create(axes), FadeIn(axis_labels), run_time=1)",
    ]


def _graph_lines(stage: Stage, spec: FunctionSpec, index: int) -> list[str]:
    colour = stage.colour(index, PALETTE[index % len(PALETTE)])
    plots = [
        f"axes.plot(lambda x: {spec.expression}, x_range=[{_num(lo)}, {_num(hi)}], color={colour})"
        for lo, hi in spec.branches
    ]
    graph = plots[0] if len(plots) == 1 else f"VGroup({', '.join(plots)})"
    return [
        f"graph_{index} = {graph}",
        f"label_{index} = {_label(stage, spec.latex_label, spec.text_label, 36, colour)}",
        f"if label_{index}.width > 2.5:",
        f"    label_{index}.scale_to_fit_width(2.5)",
        f"label_{index}.move_to({_point(0, 2.3 - 0.75 * index)}).align_to({_point(4.3, 0)}, LEFT)",
        f"self.play(Create(graph_{index}), FadeIn(label_{index}), run_time=1.5)",
    ]


def plot_lines(stage: Stage, specs: list[FunctionSpec]) -> list[str]:
    lines = _axes_lines(stage, specs)
    for index, spec in enumerate(specs[:4]):
        lines += _graph_lines(stage, spec, index)
    return lines + ["self.wait(0.6)"]


# --------------------------------------------------------------------------------------------
# Classic demos.


def build_unit_circle_sine(stage: Stage) -> list[str]:
    """A point goes round the unit circle; its height draws the sine wave beside it."""
    colour = stage.colour(0, "YELLOW")
    return _block(f"""
        centre = LEFT * 4.6
        radius = 1.5
        wave_start = LEFT * 2.2
        circle = Circle(radius=radius, color=BLUE).move_to(centre)
        axis = Line(wave_start, wave_start + RIGHT * (TAU + 0.4), color=GRAY, stroke_width=2)
        angle = ValueTracker(0)

        def point_on_circle():
            a = angle.get_value()
            return centre + radius * np.array([np.cos(a), np.sin(a), 0])

        def point_on_wave():
            a = angle.get_value()
            return wave_start + np.array([a, radius * np.sin(a), 0])

        radius_line = always_redraw(lambda: Line(centre, point_on_circle(), color=WHITE))
        dot = always_redraw(lambda: Dot(point_on_circle(), color={colour}))
        link = always_redraw(lambda: DashedLine(point_on_circle(), point_on_wave(), color=GRAY, stroke_width=2))
        wave = always_redraw(lambda: ParametricFunction(
            lambda t: wave_start + np.array([t, radius * np.sin(t), 0]),
            t_range=[0, max(angle.get_value(), 0.001)],
            color={colour},
        ))
        self.play(Create(circle), Create(axis), run_time=1)
        self.add(radius_line, link, wave, dot)
        self.play(angle.animate.set_value(TAU), run_time=4, rate_func=linear)
        self.wait(0.5)
    """)


def build_bubble_sort(stage: Stage) -> list[str]:
    """Bars with their values; neighbours swap until sorted, sorted bars turn green."""
    colour, done = stage.colour(0, "BLUE"), stage.colour(1, "GREEN")
    return _caption("Bubble sort") + _block(f"""
        values = [5, 2, 4, 1, 3]
        bars = VGroup(*[
            VGroup(Rectangle(width=0.9, height=0.75 * v, color={colour}, fill_opacity=0.8), Text(str(v), font_size=30))
            for v in values
        ])
        for bar in bars:
            bar[1].next_to(bar[0], DOWN, buff=0.15)
        bars.arrange(RIGHT, buff=0.35, aligned_edge=DOWN).move_to(DOWN * 0.6)
        self.play(FadeIn(caption), LaggedStart(*[FadeIn(bar, shift=UP * 0.3) for bar in bars], lag_ratio=0.15), run_time=1)
        order = list(bars)
        for end in range(len(values) - 1, 0, -1):
            for i in range(end):
                if values[i] > values[i + 1]:
                    left, right = order[i], order[i + 1]
                    left_x, right_x = left.get_x(), right.get_x()
                    self.play(left.animate.set_x(right_x), right.animate.set_x(left_x), run_time=0.35)
                    values[i], values[i + 1] = values[i + 1], values[i]
                    order[i], order[i + 1] = right, left
            self.play(order[end][0].animate.set_color({done}), run_time=0.2)
        self.play(order[0][0].animate.set_color({done}), run_time=0.2)
        self.wait(0.5)
    """)


def build_number_line(stage: Stage) -> list[str]:
    colour = stage.colour(0, "YELLOW")
    label_class = "" if stage.latex else ", label_constructor=Text"
    return [
        f"line = NumberLine(x_range=[-5, 5, 1], length=11, include_numbers=True, font_size=30{label_class})",
        "position = ValueTracker(0)",
        f"dot = always_redraw(lambda: Dot(line.n2p(position.get_value()), radius=0.12, color={colour}))",
        f"value = {_decimal(stage, '0', 1, 40, colour)}",
        "value.add_updater(lambda m: m.set_value(position.get_value()).next_to(dot, UP, buff=0.3))",
    ] + _block("""
        self.play(Create(line), run_time=1)
        self.add(dot, value)
        self.play(position.animate.set_value(3), run_time=1.2)
        self.play(position.animate.set_value(-2.5), run_time=1.5)
        self.play(position.animate.set_value(1), run_time=1)
        value.clear_updaters()
        self.wait(0.4)
    """)


def _count_range(text: str) -> tuple[int, int]:
    numbers = [int(n) for n in re.findall(r"(?<![\d.])-?\d{1,7}(?![\d.])", text)][:2]
    if "countdown" in text or "count down" in text:
        return (numbers[0] if numbers else 10), (numbers[1] if len(numbers) > 1 else 0)
    if len(numbers) >= 2:
        return numbers[0], numbers[1]
    return 0, (numbers[0] if numbers else 10)


def build_counting(stage: Stage) -> list[str]:
    start, end = _count_range(stage.facts.text)
    colour = stage.colour(0, "YELLOW")
    size = 144 if max(abs(start), abs(end)) < 1000 else 96
    return (
        _caption(f"Counting from {start} to {end}")
        + [
            "counter = ValueTracker(" + str(start) + ")",
            f"number = {_decimal(stage, str(start), 0, size, colour)}",
            "number.add_updater(lambda m: m.set_value(counter.get_value()).move_to(UP * 0.2))",
            "track = Rectangle(width=8, height=0.25, color=GRAY).move_to(DOWN * 2)",
            "fill = always_redraw(lambda: Rectangle(",
            f"    width=max(8 * (counter.get_value() - {start}) / {end - start or 1}, 0.01), height=0.25,",
            f"    color={colour}, fill_opacity=1, stroke_width=0,",
            ").align_to(track, LEFT).set_y(-2))",
        ]
        + _block(f"""
        self.play(FadeIn(caption), FadeIn(number), Create(track), run_time=0.8)
        self.add(fill)
        self.play(counter.animate.set_value({end}), run_time=2.5, rate_func=linear)
        number.clear_updaters()
        self.play(Indicate(number, color=WHITE), run_time=0.8)
        self.wait(0.4)
    """)
    )


def build_vectors(stage: Stage) -> list[str]:
    v, w, s = stage.colour(0, "YELLOW"), stage.colour(1, "GREEN"), stage.colour(2, "RED")
    lines = _block(f"""
        plane = NumberPlane(x_range=[-5, 5, 1], y_range=[-3, 3, 1], x_length=10, y_length=6).move_to(DOWN * 0.5)
        origin = plane.c2p(0, 0)
        v = Arrow(origin, plane.c2p(3, 1), buff=0, color={v})
        w = Arrow(plane.c2p(3, 1), plane.c2p(4, 3), buff=0, color={w})
        total = Arrow(origin, plane.c2p(4, 3), buff=0, color={s})
    """)
    v_label, w_label = _label(stage, r"\vec{v}", "v", 44, v), _label(stage, r"\vec{w}", "w", 44, w)
    total_label = _label(stage, r"\vec{v} + \vec{w}", "v + w", 44, s)
    lines += [
        f"v_label = {v_label}.next_to(v.get_center(), DOWN, buff=0.25)",
        f"w_label = {w_label}.next_to(w.get_center(), RIGHT, buff=0.25)",
        f"total_label = {total_label}.next_to(total.get_center(), LEFT, buff=0.3)",
    ]
    return lines + _block("""
        self.play(Create(plane), run_time=1)
        self.play(GrowArrow(v), FadeIn(v_label), run_time=0.8)
        self.play(GrowArrow(w), FadeIn(w_label), run_time=0.8)
        self.play(GrowArrow(total), FadeIn(total_label), run_time=1)
        self.play(Indicate(total, color=WHITE), run_time=0.8)
        self.wait(0.4)
    """)


def build_vector_field(stage: Stage) -> list[str]:
    colour = stage.colour(0, "YELLOW")
    return _block(f"""
        field = ArrowVectorField(
            lambda p: np.array([-p[1], p[0], 0]) * 0.5,
            x_range=[-6, 6, 1],
            y_range=[-3, 2, 1],
        )
        dot = Dot(RIGHT * 2, radius=0.15, color={colour})
        trail = TracedPath(dot.get_center, stroke_color={colour}, stroke_width=4)
        self.play(Create(field), run_time=1.5)
        self.add(trail, dot)
        dot.add_updater(field.get_nudge_updater(speed=1.5))
        self.wait(2.5)
        dot.clear_updaters()
        self.wait(0.3)
    """)


def build_coordinate_plane(stage: Stage) -> list[str]:
    colour = stage.colour(0, "YELLOW")
    label_config = "" if stage.latex else ',\n    axis_config={"label_constructor": Text, "font_size": 22}'
    return [
        "plane = NumberPlane(",
        f"    x_range=[-6, 6, 1], y_range=[-3, 3, 1], x_length=12, y_length=6{label_config},",
        ").move_to(DOWN * 0.5)",
        "plane.add_coordinates()",
    ] + _block(f"""
        dot = Dot(plane.c2p(0, 0), radius=0.12, color={colour})
        trail = TracedPath(dot.get_center, stroke_color={colour}, stroke_width=4)
        readout = always_redraw(lambda: Text(
            "({{:.1f}}, {{:.1f}})".format(*plane.p2c(dot.get_center())), font_size=30, color={colour}
        ).next_to(dot, UR, buff=0.1))
        self.play(Create(plane), run_time=1)
        self.add(trail, dot, readout)
        for x, y in [(3, 2), (-2, 1), (-3, -2), (0, 0)]:
            self.play(dot.animate.move_to(plane.c2p(x, y)), run_time=0.8)
        self.wait(0.4)
    """)


def build_linear_transformation(stage: Stage) -> list[str]:
    """The plane and its basis vectors under a shear, 3Blue1Brown style."""
    i_colour, j_colour = stage.colour(0, "GREEN"), stage.colour(1, "RED")
    return _caption("Shear: (x, y) → (x + y, y)") + _block(f"""
        plane = NumberPlane(x_range=[-10, 10, 1], y_range=[-3, 3, 1], x_length=20, y_length=6).move_to(DOWN * 0.9)
        origin = plane.c2p(0, 0)
        basis_i = Arrow(origin, plane.c2p(1, 0), buff=0, color={i_colour})
        basis_j = Arrow(origin, plane.c2p(0, 1), buff=0, color={j_colour})
        self.play(FadeIn(caption), Create(plane), run_time=1)
        self.play(GrowArrow(basis_i), GrowArrow(basis_j), run_time=0.6)
        self.play(ApplyMatrix([[1, 1], [0, 1]], VGroup(plane, basis_i, basis_j), about_point=origin), run_time=2)
        self.wait(0.6)
    """)


def build_spiral(stage: Stage) -> list[str]:
    inner, outer = stage.colour(0, "BLUE"), stage.colour(1, "PINK")
    return _block(f"""
        spiral = ParametricFunction(
            lambda t: 0.14 * t * np.array([np.cos(t), np.sin(t), 0]),
            t_range=[0, 6 * PI],
            stroke_width=6,
        ).move_to(DOWN * 0.4)
        spiral.set_color([{inner}, {outer}])
        dot = Dot(spiral.get_end(), color=WHITE)
        self.play(Create(spiral), run_time=2.5, rate_func=linear)
        self.play(FadeIn(dot, scale=2), run_time=0.4)
        self.play(Rotate(VGroup(spiral, dot), angle=PI, about_point=spiral.get_center()), run_time=1.5)
        self.wait(0.4)
    """)


def build_fractal(stage: Stage) -> list[str]:
    """The Koch snowflake, one refinement at a time."""
    colour = stage.colour(0, "TEAL")
    return _caption("Koch snowflake") + _block(f"""
        def refine(points):
            finer = []
            for start, end in zip(points, points[1:] + points[:1]):
                third = (end - start) / 3
                finer += [start, start + third, start + third + rotate_vector(third, PI / 3), start + 2 * third]
            return finer

        corners = [2.6 * np.array([np.cos(a), np.sin(a), 0]) for a in (PI / 2, PI / 2 - TAU / 3, PI / 2 - 2 * TAU / 3)]
        flake = Polygon(*corners, color={colour}, fill_opacity=0.3).move_to(DOWN * 0.5)
        self.play(FadeIn(caption), Create(flake), run_time=1)
        points = corners
        for depth in range(3):
            points = refine(points)
            finer = Polygon(*points, color={colour}, fill_opacity=0.3).move_to(DOWN * 0.5)
            self.play(Transform(flake, finer), run_time=1)
        self.wait(0.6)
    """)


def build_bar_chart(stage: Stage) -> list[str]:
    labels = (
        ""
        if stage.latex
        else (
            '\n    x_axis_config={"label_constructor": Text},\n    y_axis_config={"label_constructor": Text},'
        )
    )
    bar_labels = "" if stage.latex else "label_constructor=Text, "
    colours = ", ".join(
        stage.colour(i, c) for i, c in enumerate(("BLUE", "TEAL", "GREEN", "YELLOW", "ORANGE"))
    )
    return [
        "chart = BarChart(",
        "    values=[3, 5, 2, 6, 4],",
        '    bar_names=["A", "B", "C", "D", "E"],',
        "    y_range=[0, 8, 2],",
        "    x_length=8,",
        "    y_length=5,",
        f"    bar_colors=[{colours}],{labels}",
        ").move_to(DOWN * 0.5)",
    ] + _block(f"""
        self.play(Create(chart), run_time=1.5)
        self.play(chart.animate.change_bar_values([6, 3, 5, 2, 7]), run_time=1.5)
        values = chart.get_bar_labels({bar_labels}font_size=28)
        self.play(FadeIn(values), run_time=0.6)
        self.wait(0.5)
    """)


def build_pie_chart(stage: Stage) -> list[str]:
    colours = ", ".join(stage.colour(i, c) for i, c in enumerate(("BLUE", "GREEN", "YELLOW", "RED")))
    return _block(f"""
        shares = [("A", 40), ("B", 25), ("C", 20), ("D", 15)]
        colours = [{colours}]
        slices, labels, keys = VGroup(), VGroup(), VGroup()
        start = PI / 2
        for (name, percent), colour in zip(shares, colours):
            angle = -TAU * percent / 100
            slices.add(Sector(radius=2.3, start_angle=start, angle=angle, color=colour, fill_opacity=0.9, stroke_width=2, stroke_color=BLACK))
            middle = start + angle / 2
            labels.add(Text(f"{{percent}}%", font_size=28).move_to(1.5 * np.array([np.cos(middle), np.sin(middle), 0])))
            keys.add(VGroup(Square(side_length=0.35, color=colour, fill_opacity=1), Text(name, font_size=30)).arrange(RIGHT, buff=0.2))
            start += angle
        pie = VGroup(slices, labels).move_to(LEFT * 1.8 + DOWN * 0.4)
        keys.arrange(DOWN, aligned_edge=LEFT, buff=0.3).next_to(pie, RIGHT, buff=1.2)
        self.play(LaggedStart(*[FadeIn(s, scale=0.8) for s in slices], lag_ratio=0.25), run_time=1.5)
        self.play(FadeIn(labels), FadeIn(keys), run_time=0.8)
        self.play(slices[0].animate.shift(0.3 * UP), rate_func=there_and_back, run_time=0.8)
        self.wait(0.4)
    """)


def build_matrix(stage: Stage) -> list[str]:
    """A 2x2 matrix times a vector, one row at a time."""
    if stage.latex:
        lines = _block("""
            matrix = Matrix([[2, 1], [1, 3]])
            vector = Matrix([[1], [2]])
            result = Matrix([[4], [7]])
            rows, answers = matrix.get_rows(), result.get_entries()
        """)
    else:
        lines = _block("""
            def bracketed(rows):
                grid = VGroup(*[Text(str(value), font_size=44) for row in rows for value in row])
                grid.arrange_in_grid(rows=len(rows), cols=len(rows[0]), buff=(0.45, 0.3))
                height = grid.height + 0.4
                left = VMobject().set_points_as_corners([
                    np.array([0.15, height / 2, 0]), np.array([0, height / 2, 0]),
                    np.array([0, -height / 2, 0]), np.array([0.15, -height / 2, 0]),
                ])
                right = left.copy().rotate(PI)
                left.next_to(grid, LEFT, buff=0.15)
                right.next_to(grid, RIGHT, buff=0.15)
                cols = len(rows[0])
                return VGroup(left, grid, right), [VGroup(*grid[r * cols:(r + 1) * cols]) for r in range(len(rows))]

            matrix, rows = bracketed([[2, 1], [1, 3]])
            vector, _ = bracketed([[1], [2]])
            result, answers = bracketed([[4], [7]])
        """)
    equals = "MathTex('=')" if stage.latex else 'Text("=", font_size=48)'
    return lines + _block(f"""
        product = VGroup(matrix, vector, {equals}, result).arrange(RIGHT, buff=0.4).move_to(DOWN * 0.3)
        self.play(Write(VGroup(matrix, vector)), run_time=1.2)
        self.play(Write(product[2]), FadeIn(result), run_time=0.8)
        for row, answer in zip(rows, answers):
            self.play(Indicate(row, color=YELLOW), Indicate(vector, color=YELLOW), Indicate(answer, color=YELLOW), run_time=0.9)
        self.wait(0.4)
    """)


def build_area_under_curve(stage: Stage) -> list[str]:
    colour = stage.colour(0, "BLUE")
    label = _label(stage, r"\int_1^4 f(x)\,dx", "∫ f(x) dx from 1 to 4", 44)
    return [
        "axes = Axes(",
        "    x_range=[0, 5, 1], y_range=[0, 5, 1], x_length=7, y_length=5,",
        f"    axis_config={_number_config(stage)}, tips=False,",
        ").move_to(LEFT * 1.5 + DOWN * 0.5)",
        f"curve = axes.plot(lambda x: 0.2 * x ** 2 + 1, x_range=[0, 4.5], color={colour})",
        f"label = {label}.move_to(RIGHT * 4.6 + UP * 1.5)",
    ] + _block("""
        coarse = axes.get_riemann_rectangles(curve, x_range=[1, 4], dx=0.5, fill_opacity=0.6)
        fine = axes.get_riemann_rectangles(curve, x_range=[1, 4], dx=0.1, fill_opacity=0.6)
        area = axes.get_area(curve, x_range=[1, 4], color=BLUE, opacity=0.6)
        self.play(Create(axes), Create(curve), run_time=1.2)
        self.play(Create(coarse), run_time=1)
        self.play(ReplacementTransform(coarse, fine), run_time=1)
        self.play(ReplacementTransform(fine, area), Write(label), run_time=1)
        self.wait(0.5)
    """)


def build_tangent_line(stage: Stage) -> list[str]:
    colour, line_colour = stage.colour(0, "BLUE"), stage.colour(1, "YELLOW")
    return [
        "axes = Axes(",
        "    x_range=[-3, 3, 1], y_range=[-3, 3, 1], x_length=8, y_length=5.5,",
        f"    axis_config={_number_config(stage)}, tips=False,",
        ").move_to(LEFT * 1.2 + DOWN * 0.5)",
        "def f(x):",
        "    return 0.25 * x ** 3 - x",
        "def slope(x):",
        "    return 0.75 * x ** 2 - 1",
        f"curve = axes.plot(f, x_range=[-2.9, 2.9], color={colour})",
        "x = ValueTracker(-2.2)",
        "tangent = always_redraw(lambda: Line(",
        "    axes.c2p(x.get_value() - 1, f(x.get_value()) - slope(x.get_value())),",
        "    axes.c2p(x.get_value() + 1, f(x.get_value()) + slope(x.get_value())),",
        f"    color={line_colour},",
        ").set_length(3.5))",
        f"dot = always_redraw(lambda: Dot(axes.c2p(x.get_value(), f(x.get_value())), color={line_colour}))",
        'slope_label = Text("slope", font_size=34).move_to(RIGHT * 4.6 + UP * 1.6)',
        f"slope_value = {_decimal(stage, 'slope(-2.2)', 2, 40, line_colour)}.next_to(slope_label, DOWN)",
        "slope_value.add_updater(lambda m: m.set_value(slope(x.get_value())))",
    ] + _block("""
        self.play(Create(axes), Create(curve), run_time=1.2)
        self.add(tangent, dot)
        self.play(FadeIn(slope_label), FadeIn(slope_value), run_time=0.5)
        self.play(x.animate.set_value(2.2), run_time=3, rate_func=linear)
        slope_value.clear_updaters()
        self.wait(0.4)
    """)


def build_venn_diagram(stage: Stage) -> list[str]:
    left, right = stage.colour(0, "BLUE"), stage.colour(1, "RED")
    return _block(f"""
        set_a = Circle(radius=1.8, color={left}, fill_opacity=0.3).move_to(LEFT * 1.1 + DOWN * 0.4)
        set_b = Circle(radius=1.8, color={right}, fill_opacity=0.3).move_to(RIGHT * 1.1 + DOWN * 0.4)
        name_a = Text("A", font_size=48).move_to(set_a.get_center() + LEFT * 0.9)
        name_b = Text("B", font_size=48).move_to(set_b.get_center() + RIGHT * 0.9)
        both = Intersection(set_a, set_b, color=YELLOW, fill_opacity=0.7, stroke_width=0)
        both_label = Text("A ∩ B", font_size=30, color=BLACK).move_to(both)
        self.play(DrawBorderThenFill(set_a), DrawBorderThenFill(set_b), run_time=1.2)
        self.play(Write(name_a), Write(name_b), run_time=0.6)
        self.play(FadeIn(both), FadeIn(both_label), run_time=0.8)
        self.play(Indicate(both, color=YELLOW), run_time=0.8)
        self.wait(0.4)
    """)


def build_orbit(stage: Stage) -> list[str]:
    planet_colour, moon_colour = stage.colour(0, "BLUE"), stage.colour(1, "LIGHT_GRAY")
    return _block(f"""
        centre = DOWN * 0.3
        orbit = Ellipse(width=9, height=4.4, color=GRAY, stroke_width=2).move_to(centre)
        sun = Dot(centre, radius=0.45, color=YELLOW)
        glow = Dot(centre, radius=0.7, color=YELLOW, fill_opacity=0.25)
        time = ValueTracker(0)

        def planet_position():
            t = time.get_value()
            return centre + np.array([4.5 * np.cos(TAU * t), 2.2 * np.sin(TAU * t), 0])

        planet = always_redraw(lambda: Dot(planet_position(), radius=0.2, color={planet_colour}))
        moon = always_redraw(lambda: Dot(
            planet_position() + 0.45 * np.array([np.cos(4 * TAU * time.get_value()), np.sin(4 * TAU * time.get_value()), 0]),
            radius=0.08,
            color={moon_colour},
        ))
        self.play(FadeIn(glow), GrowFromCenter(sun), Create(orbit), run_time=1)
        self.add(planet, moon)
        self.play(time.animate.set_value(1), run_time=4, rate_func=linear)
        self.wait(0.3)
    """)


def build_neural_network(stage: Stage) -> list[str]:
    node_colour, pulse_colour = stage.colour(0, "BLUE"), stage.colour(1, "YELLOW")
    return _block(f"""
        sizes = [3, 4, 4, 2]
        layers = VGroup(*[
            VGroup(*[Circle(radius=0.25, color={node_colour}, fill_opacity=0.6) for _ in range(size)]).arrange(DOWN, buff=0.45)
            for size in sizes
        ]).arrange(RIGHT, buff=2.2).move_to(DOWN * 0.5)
        edges = VGroup(*[
            VGroup(*[Line(a.get_right(), b.get_left(), stroke_width=1.5, color=GRAY) for a in left for b in right])
            for left, right in zip(layers[:-1], layers[1:])
        ])
        names = VGroup(
            Text("input", font_size=26).next_to(layers[0], DOWN, buff=0.35),
            Text("hidden", font_size=26).next_to(VGroup(layers[1], layers[2]), DOWN, buff=0.35),
            Text("output", font_size=26).next_to(layers[3], DOWN, buff=0.35),
        )
        self.play(LaggedStart(*[FadeIn(layer, shift=UP * 0.2) for layer in layers], lag_ratio=0.3), run_time=1.2)
        self.play(Create(edges), FadeIn(names), run_time=1.2)
        for group, layer in zip(edges, layers[1:]):
            self.play(
                ShowPassingFlash(group.copy().set_color({pulse_colour}).set_stroke(width=4), time_width=0.6),
                layer.animate.set_fill({pulse_colour}, opacity=0.9),
                run_time=0.7,
            )
        self.wait(0.4)
    """)


# --------------------------------------------------------------------------------------------
# The recipe table.


def _grow_from_center_words() -> tuple[str, ...]:
    verbs = ("grow", "grows", "growing", "grown")
    places = ("from center", "from the center", "from centre", "from the centre", "from the middle")
    return (
        tuple(f"{verb} {place}" for verb in verbs for place in places)
        + places
        + ("pop in", "pops in", "pop up", "pops up")
    )


GRAPH_WORDS = ("graph", "plot", "plotting", "plotted", "function", "curve", "graphing", "wave")

RECIPES: tuple[Recipe, ...] = (
    # Shapes
    Recipe(
        "circle",
        Kind.SHAPE,
        ("circle", "ball"),
        _shape_builder("circle"),
        "a blue circle",
        "Circle",
        weak_keywords=("disc", "disk"),
    ),
    Recipe("square", Kind.SHAPE, ("square",), _shape_builder("square"), "a red square", "Square"),
    Recipe("triangle", Kind.SHAPE, ("triangle",), _shape_builder("triangle"), "a green triangle", "Triangle"),
    Recipe(
        "rectangle",
        Kind.SHAPE,
        ("rectangle",),
        _shape_builder("rectangle"),
        "an orange rectangle",
        "Rectangle",
        weak_keywords=("box",),
    ),
    Recipe("star", Kind.SHAPE, ("star",), _shape_builder("star"), "a gold star", "Star"),
    Recipe(
        "polygon", Kind.SHAPE, tuple(POLYGON_SIDES), _shape_builder("polygon"), "a purple hexagon", "Polygon"
    ),
    Recipe(
        "ellipse", Kind.SHAPE, ("ellipse", "oval"), _shape_builder("ellipse"), "a teal ellipse", "Ellipse"
    ),
    Recipe("arrow", Kind.SHAPE, ("arrow",), _shape_builder("arrow"), "a white arrow", "Arrow"),
    Recipe(
        "line",
        Kind.SHAPE,
        ("line segment", "segment", "straight line"),
        _shape_builder("line"),
        "a pink line",
        "Line",
        weak_keywords=("line",),
    ),
    Recipe(
        "dot", Kind.SHAPE, ("dot",), _shape_builder("dot"), "a yellow dot", "Dot", weak_keywords=("point",)
    ),
    # Motions
    Recipe(
        "move",
        Kind.MOTION,
        (
            "move",
            "moving",
            "moved",
            "shift",
            "shifting",
            "slide",
            "sliding",
            "translate",
            "translating",
            "travel",
            "travelling",
            "traveling",
        ),
        build_move,
        "a square moves to the left",
    ),
    Recipe(
        "rotate",
        Kind.MOTION,
        (
            "rotate",
            "rotating",
            "rotated",
            "rotation",
            "spin",
            "spinning",
            "spun",
            "revolve",
            "revolving",
            "twirl",
            "twirling",
        ),
        build_rotate,
        "a star spinning",
    ),
    Recipe(
        "scale",
        Kind.MOTION,
        (
            "scale",
            "scaling",
            "scaled",
            "grow",
            "growing",
            "grew",
            "shrink",
            "shrinking",
            "shrank",
            "enlarge",
            "enlarging",
            "expand",
            "expanding",
            "bigger",
            "smaller",
            "scale up",
            "scale down",
            "scales up",
            "scales down",
        ),
        build_scale,
        "a circle that grows",
    ),
    Recipe(
        "fade_in",
        Kind.MOTION,
        ("fade in", "fades in", "fading in", "fade-in", "appear", "appearing"),
        build_fade_in,
        "a triangle fades in",
        phase=Phase.INTRO,
    ),
    Recipe(
        "fade_out",
        Kind.MOTION,
        (
            "fade out",
            "fades out",
            "fading out",
            "fade-out",
            "fade away",
            "fades away",
            "fade",
            "fading",
            "disappear",
            "disappearing",
            "vanish",
            "vanishing",
        ),
        build_fade_out,
        "a square that fades out",
        phase=Phase.OUTRO,
    ),
    Recipe(
        "grow_from_center",
        Kind.MOTION,
        _grow_from_center_words(),
        build_grow_from_center,
        "a hexagon grows from the center",
        phase=Phase.INTRO,
    ),
    Recipe(
        "transform",
        Kind.MOTION,
        (
            "transform",
            "transforming",
            "transformed",
            "morph",
            "morphing",
            "morphed",
            "turn into",
            "turns into",
            "turning into",
            "change into",
            "changes into",
            "changing into",
            "into",
            "become",
            "becomes",
            "becoming",
        ),
        build_transform,
        "transform a square into a circle",
    ),
    Recipe(
        "bounce",
        Kind.MOTION,
        ("bounce", "bouncing", "bounced", "bouncy", "jump", "jumping", "hop", "hopping"),
        build_bounce,
        "a bouncing ball",
    ),
    Recipe(
        "indicate",
        Kind.MOTION,
        (
            "indicate",
            "indicating",
            "highlight",
            "highlighting",
            "emphasize",
            "emphasise",
            "flash",
            "flashing",
            "wiggle",
            "wiggling",
            "shake",
            "shaking",
            "pulse",
            "pulsing",
            "circumscribe",
            "outline",
        ),
        build_indicate,
        "highlight a star",
    ),
    Recipe(
        "recolor",
        Kind.MOTION,
        (
            "change color",
            "changes color",
            "changing color",
            "change colour",
            "changes colour",
            "changing colour",
            "color change",
            "colour change",
            "recolor",
            "recolour",
            "turn",
            "turns",
            "turning",
        ),
        build_recolor,
        "a blue circle turns red",
    ),
    # Text
    Recipe(
        "title",
        Kind.TEXT,
        ("title", "titled", "heading", "headline", "title card", "intro card"),
        build_title,
        'a title "Hello Manim"',
        "TitleScene",
    ),
    Recipe(
        "text",
        Kind.TEXT,
        ("text", "the words", "the word", "saying", "says", "caption", "lettering"),
        build_text,
        'show the text "Hello, world!"',
        "TextScene",
        weak_keywords=("write", "writing", "message", "typing"),
    ),
    # Equations
    Recipe(
        "equation",
        Kind.DEMO,
        (
            "equation",
            "formula",
            "e=mc^2",
            "e = mc^2",
            "e=mc²",
            "e = mc²",
            "mass-energy",
            "mass energy",
            "einstein",
            "algebra",
            "solve",
            "solving",
        ),
        build_equation,
        "show the equation E=mc^2",
        "EquationScene",
    ),
    Recipe(
        "pythagorean_theorem",
        Kind.DEMO,
        (
            "pythagorean",
            "pythagoras",
            "pythagorean theorem",
            "hypotenuse",
            "a^2+b^2=c^2",
            "a^2 + b^2 = c^2",
            "a²+b²=c²",
            "a² + b² = c²",
        ),
        build_pythagorean,
        "prove the Pythagorean theorem",
        "PythagoreanTheorem",
        absorbs=("square", "triangle", "equation", "rectangle"),
    ),
    Recipe(
        "quadratic_formula",
        Kind.DEMO,
        ("quadratic formula", "quadratic equation", "discriminant"),
        build_quadratic_formula,
        "derive the quadratic formula",
        "QuadraticFormula",
        absorbs=("equation",),
    ),
    Recipe(
        "euler_identity",
        Kind.DEMO,
        ("euler", "euler's identity", "euler's formula", "e^(i pi)", "e^(iπ)", "e^{i\\pi}", "e^ipi", "e^iπ"),
        build_euler_identity,
        "Euler's identity",
        "EulerIdentity",
        absorbs=("equation", "exponential_graph"),
    ),
    # Function graphs
    Recipe(
        "sine_graph",
        Kind.PLOT,
        ("sin", "sine", "sin(x)", "sine wave", "sine curve", "sinusoid", "sinusoidal"),
        _spec("np.sin(x)", (-7, 7), (-2, 2), r"y = \sin(x)", "y = sin(x)"),
        "plot sin(x)",
        "SineGraph",
        weak_keywords=GRAPH_WORDS,
    ),
    Recipe(
        "cosine_graph",
        Kind.PLOT,
        ("cos", "cosine", "cos(x)", "cosine wave", "cosine curve"),
        _spec("np.cos(x)", (-7, 7), (-2, 2), r"y = \cos(x)", "y = cos(x)"),
        "graph of cosine",
        "CosineGraph",
    ),
    Recipe(
        "tangent_graph",
        Kind.PLOT,
        ("tan", "tan(x)", "tangent", "tangent function"),
        _spec("np.tan(x)", (-4.5, 4.5), (-4, 4), r"y = \tan(x)", "y = tan(x)", TAN_BRANCHES),
        "plot tan(x)",
        "TangentGraph",
    ),
    Recipe(
        "parabola_graph",
        Kind.PLOT,
        ("parabola", "quadratic", "quadratic function", "x^2", "x²", "x squared", "x**2"),
        _spec("x ** 2", (-2.5, 2.5), (-1, 7), "y = x^2", "y = x²"),
        "graph a parabola",
        "ParabolaGraph",
    ),
    Recipe(
        "cubic_graph",
        Kind.PLOT,
        ("cubic", "x^3", "x³", "x cubed", "polynomial", "x**3"),
        _spec(
            "0.5 * x ** 3 - 1.5 * x",
            (-2.6, 2.6),
            (-5, 5),
            r"y = \tfrac{1}{2}x^3 - \tfrac{3}{2}x",
            "y = 0.5x³ − 1.5x",
        ),
        "plot a cubic polynomial",
        "CubicGraph",
    ),
    Recipe(
        "exponential_graph",
        Kind.PLOT,
        ("exponential", "exp", "e^x", "eˣ", "exponential growth", "exp(x)"),
        _spec("np.exp(x)", (-4, 2.05), (-1, 8), "y = e^x", "y = eˣ"),
        "exponential growth curve",
        "ExponentialGraph",
    ),
    Recipe(
        "logarithm_graph",
        Kind.PLOT,
        ("log", "ln", "logarithm", "logarithmic", "log(x)", "ln(x)"),
        _spec("np.log(x)", (0.05, 7), (-3, 2), r"y = \ln(x)", "y = ln(x)"),
        "graph of ln(x)",
        "LogarithmGraph",
    ),
    Recipe(
        "sqrt_graph",
        Kind.PLOT,
        ("sqrt", "square root", "√x", "sqrt(x)"),
        _spec("np.sqrt(x)", (0, 7), (-1, 3), r"y = \sqrt{x}", "y = √x"),
        "plot the square root function",
        "SquareRootGraph",
    ),
    Recipe(
        "abs_graph",
        Kind.PLOT,
        ("abs", "absolute value", "|x|", "abs(x)", "modulus"),
        _spec("np.abs(x)", (-4, 4), (-1, 4), "y = |x|", "y = |x|"),
        "graph the absolute value function",
        "AbsoluteValueGraph",
    ),
    # Classic demos
    Recipe(
        "unit_circle_sine",
        Kind.DEMO,
        (
            "unit circle",
            "rotating point",
            "rotating dot",
            "sine wave traced",
            "traced sine",
            "circle to sine",
            "circle and sine",
            "circular motion",
        ),
        build_unit_circle_sine,
        "a sine wave traced by a rotating point on the unit circle",
        "UnitCircleSineWave",
        absorbs=("circle", "dot", "rotate", "move", "sine_graph", "cosine_graph", "line"),
    ),
    Recipe(
        "bubble_sort",
        Kind.DEMO,
        ("bubble sort", "sorting", "sorting algorithm", "sorting bars"),
        build_bubble_sort,
        "bubble sort animation",
        "BubbleSort",
        weak_keywords=("sort", "sorted", "bubble"),
        absorbs=("rectangle", "bar_chart", "move", "transform"),
    ),
    Recipe(
        "number_line",
        Kind.DEMO,
        ("number line", "numberline", "number-line", "real line"),
        build_number_line,
        "a dot moving on a number line",
        "NumberLineScene",
        absorbs=("line", "dot", "move"),
    ),
    Recipe(
        "counting",
        Kind.DEMO,
        ("count", "counting", "countdown", "count down", "count up", "decimalnumber"),
        build_counting,
        "count from 1 to 100",
        "CountingScene",
        weak_keywords=("counter", "tally", "increment", "incrementing"),
    ),
    Recipe(
        "vectors",
        Kind.DEMO,
        ("vector", "vector addition", "adding vectors", "add vectors", "vector sum"),
        build_vectors,
        "vector addition",
        "VectorAddition",
        absorbs=("arrow", "line", "coordinate_plane"),
    ),
    Recipe(
        "vector_field",
        Kind.DEMO,
        ("vector field", "flow field", "streamlines", "stream lines"),
        build_vector_field,
        "a rotating vector field",
        "VectorFieldScene",
        weak_keywords=("field", "flow"),
        absorbs=("arrow", "dot", "move", "vectors", "rotate"),
    ),
    Recipe(
        "coordinate_plane",
        Kind.DEMO,
        (
            "coordinate plane",
            "coordinate grid",
            "cartesian plane",
            "number plane",
            "coordinate system",
            "xy plane",
            "x-y plane",
            "cartesian",
        ),
        build_coordinate_plane,
        "a dot moving on a coordinate plane",
        "CoordinatePlane",
        weak_keywords=("coordinates", "grid", "plane"),
        absorbs=("dot", "move", "line"),
    ),
    Recipe(
        "linear_transformation",
        Kind.DEMO,
        (
            "linear transformation",
            "linear map",
            "shear",
            "shearing",
            "matrix transformation",
            "transform the plane",
            "transform the grid",
            "apply a matrix",
            "apply matrix",
            "applymatrix",
        ),
        build_linear_transformation,
        "a linear transformation of the plane",
        "LinearTransformation",
        absorbs=("matrix", "transform", "coordinate_plane", "vectors", "arrow"),
    ),
    Recipe(
        "spiral",
        Kind.DEMO,
        ("spiral", "archimedean spiral", "spiraling", "spiralling", "swirl", "vortex"),
        build_spiral,
        "a colorful spiral",
        "SpiralScene",
        absorbs=("dot", "rotate", "circle", "line"),
    ),
    Recipe(
        "fractal",
        Kind.DEMO,
        ("fractal", "koch", "koch snowflake", "snowflake", "koch curve"),
        build_fractal,
        "a Koch snowflake fractal",
        "KochSnowflake",
        absorbs=("triangle", "star", "polygon"),
    ),
    Recipe(
        "bar_chart",
        Kind.DEMO,
        ("bar chart", "bar graph", "barchart", "histogram", "bar plot"),
        build_bar_chart,
        "an animated bar chart",
        "BarChartScene",
        absorbs=("rectangle",),
        weak_keywords=("chart", "bars"),
    ),
    Recipe(
        "pie_chart",
        Kind.DEMO,
        ("pie chart", "pie graph", "donut chart", "doughnut chart"),
        build_pie_chart,
        "a pie chart",
        "PieChartScene",
        absorbs=("circle", "bar_chart"),
        weak_keywords=("pie",),
    ),
    Recipe(
        "matrix",
        Kind.DEMO,
        (
            "matrix",
            "matrices",
            "matrix multiplication",
            "multiply matrices",
            "matrix vector product",
            "2x2 matrix",
        ),
        build_matrix,
        "matrix times a vector",
        "MatrixMultiplication",
        absorbs=("equation", "vectors"),
    ),
    Recipe(
        "area_under_curve",
        Kind.DEMO,
        (
            "area under",
            "area under the curve",
            "integral",
            "integrate",
            "integration",
            "riemann",
            "riemann sum",
            "definite integral",
        ),
        build_area_under_curve,
        "the area under a curve as an integral",
        "AreaUnderCurve",
        absorbs=tuple(
            name
            for name in (
                "sine_graph",
                "cosine_graph",
                "tangent_graph",
                "parabola_graph",
                "cubic_graph",
                "exponential_graph",
                "logarithm_graph",
                "sqrt_graph",
                "abs_graph",
                "equation",
                "rectangle",
            )
        ),
    ),
    Recipe(
        "tangent_line",
        Kind.DEMO,
        (
            "tangent line",
            "derivative",
            "derivatives",
            "slope",
            "differentiation",
            "differentiate",
            "rate of change",
            "secant",
        ),
        build_tangent_line,
        "the derivative as a tangent line",
        "TangentLineScene",
        absorbs=(
            "sine_graph",
            "cosine_graph",
            "tangent_graph",
            "parabola_graph",
            "cubic_graph",
            "exponential_graph",
            "logarithm_graph",
            "sqrt_graph",
            "abs_graph",
            "line",
            "dot",
            "move",
        ),
    ),
    Recipe(
        "venn_diagram",
        Kind.DEMO,
        ("venn", "venn diagram", "set intersection", "intersection of sets", "two sets"),
        build_venn_diagram,
        "a Venn diagram",
        "VennDiagram",
        absorbs=("circle", "ellipse"),
        weak_keywords=("intersection",),
    ),
    Recipe(
        "orbit",
        Kind.DEMO,
        ("orbit", "orbiting", "solar system"),
        build_orbit,
        "a planet orbiting the sun",
        "OrbitScene",
        weak_keywords=("planet", "sun", "moon", "earth"),
        absorbs=("circle", "dot", "rotate", "ellipse", "move", "spiral"),
    ),
    Recipe(
        "neural_network",
        Kind.DEMO,
        ("neural network", "neural net", "neuron", "perceptron", "deep learning", "machine learning"),
        build_neural_network,
        "a neural network",
        "NeuralNetwork",
        absorbs=("dot", "circle", "line", "arrow"),
    ),
)
RECIPES_BY_NAME: dict[str, Recipe] = {recipe.name: recipe for recipe in RECIPES}
VISUAL_KINDS = (Kind.SHAPE, Kind.PLOT, Kind.DEMO)
PROSE_WORDS_LIMIT = 10  # a longer prompt naming no shape, graph or demo gets the title card


# --------------------------------------------------------------------------------------------
# Reading a prompt.

QUOTE_RE = re.compile(
    r'"([^"\n]{1,200})"|“([^”\n]{1,200})”|«([^»\n]{1,200})»|‘([^’\n]{1,200})’|(?<!\w)\'([^\'\n'
    r"]{1,200})\'(?!\w)"
)


def clean_display(text: str) -> str:
    """The prompt as it can be shown on screen: no control or unpaired surrogate characters."""
    kept = []
    for char in text[: MAX_ANALYSED_CHARS * 2]:
        category = unicodedata.category(char)
        kept.append(
            " " if char in "\n\t\r" or category in ("Zl", "Zp") else "" if category[0] == "C" else char
        )
    return " ".join("".join(kept).split())


def _quoted_spans(text: str) -> list[tuple[int, int, str]]:
    spans = []
    for match in QUOTE_RE.finditer(text):
        inner = " ".join(next(g for g in match.groups() if g is not None).split())
        if inner:
            spans.append((match.start(), match.end(), inner))
    return spans


MATH_TOKEN_RE = re.compile(r"[A-Za-z0-9^+\-*/().=]+")
MATH_WORDS = {"sin", "cos", "tan", "log", "exp", "sqrt", "pi"}
PROSE_WORDS = {"is", "of", "to", "as", "at", "in", "on", "by", "an", "the", "and", "or", "for", "if", "so"}


def _is_math_token(token: str) -> bool:
    if not MATH_TOKEN_RE.fullmatch(token) or token.lower() in PROSE_WORDS:
        return False
    return not re.fullmatch(r"[A-Za-z]{3,}", token) or token.lower() in MATH_WORDS


def find_math(text: str) -> str | None:
    """An equation typed in `text` (letters, digits, + - * / ^ ( ) and one '='), if any."""
    tokens = [token.rstrip(".,;:!?") for token in text.split()]
    for index, token in enumerate(tokens):
        if "=" not in token or not _is_math_token(token):
            continue
        first, last = index, index
        while first > 0 and _is_math_token(tokens[first - 1]):
            first -= 1
        while last + 1 < len(tokens) and _is_math_token(tokens[last + 1]):
            last += 1
        candidate = " ".join(tokens[first : last + 1])
        if _valid_math(candidate):
            return candidate
    return None


def _valid_math(candidate: str) -> bool:
    if candidate.count("=") != 1 or not 3 <= len(candidate) <= 60 or not _balanced(candidate):
        return False
    if re.search(r"\^(?![A-Za-z0-9(])", candidate):
        return False
    return all(side.strip() for side in candidate.split("="))


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def _colours_in(text: str) -> list[str]:
    found = sorted((m.start(), COLOUR_WORDS[m.group(1)]) for m in COLOUR_RE.finditer(text))
    return [name for _, name in found]


COLOUR_RE = re.compile(r"(?<![a-z])(" + "|".join(sorted(COLOUR_WORDS, key=len, reverse=True)) + r")(?![a-z])")


def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    head = r"(?<![a-z0-9])" if keyword[0].isalnum() else ""
    plural = r"(?:e?s)?" if keyword[-1].isalpha() and keyword.isascii() else ""
    tail = r"(?![a-z0-9])" if keyword[-1].isalnum() else ""
    return re.compile(head + re.escape(keyword) + plural + tail)


KEYWORD_INDEX: tuple[tuple[str, re.Pattern[str], Recipe, bool], ...] = tuple(
    sorted(
        (
            (kw, _keyword_pattern(kw), r, strong)
            for r in RECIPES
            for kws, strong in ((r.keywords, True), (r.weak_keywords, False))
            for kw in kws
        ),
        key=lambda entry: -len(entry[0]),
    )
)


def _raw_mentions(text: str) -> list[Mention]:
    """Keyword hits, longest keyword first; a hit never overlaps an earlier (longer) one."""
    taken = bytearray(len(text))
    found = []
    for _keyword, pattern, recipe, strong in KEYWORD_INDEX:
        for match in pattern.finditer(text):
            if not any(taken[match.start() : match.end()]):
                taken[match.start() : match.end()] = b"\x01" * (match.end() - match.start())
                found.append(Mention(recipe, match.start(), match.end(), match.group(0), strong))
    return found


def _implicit_mentions(
    text: str, quoted: list[tuple[int, int, str]], math: str | None, math_at: int
) -> list[Mention]:
    """Quoted strings ask for text, a typed equation asks for the equation recipe."""
    found = []
    if quoted:
        found.append(Mention(RECIPES_BY_NAME["text"], quoted[0][0], quoted[0][0], "", True))
    if math is not None:
        found.append(Mention(RECIPES_BY_NAME["equation"], math_at, math_at + len(math), "", True))
    return found


def _with_context(mentions: list[Mention], text: str) -> list[Mention]:
    """Each mention with the text since the previous one and the text up to the next one (for a
    motion, up to the next mention that is not a shape: 'rotate a square 90 degrees')."""
    ordered = sorted(mentions, key=lambda m: (m.start, m.end))
    result = []
    for index, mention in enumerate(ordered):
        previous_end = ordered[index - 1].end if index else 0
        later = ordered[index + 1 :]
        if mention.recipe.kind is Kind.MOTION:
            later = [m for m in later if m.recipe.kind is not Kind.SHAPE]
        next_start = later[0].start if later else len(text)
        result.append(
            Mention(
                mention.recipe,
                mention.start,
                mention.end,
                mention.keyword,
                mention.strong,
                before=text[previous_end : mention.start],
                after=text[mention.end : next_start],
            )
        )
    return result


SHAPE_LEAD_IN_RE = re.compile(
    r"(?<![a-z])(?:a|an|one|another|two|three|"
    + "|".join(COLOUR_WORDS)
    + r"|big|small|large|tiny|thick|thin|long|short|straight|filled|dashed)\s+$"
)


def _promoted(mention: Mention) -> Mention:
    """'a line', 'a red point': a weak shape word after an article or colour is meant."""
    if mention.strong or mention.recipe.kind is not Kind.SHAPE or not SHAPE_LEAD_IN_RE.search(mention.before):
        return mention
    return Mention(
        mention.recipe, mention.start, mention.end, mention.keyword, True, mention.before, mention.after
    )


def _filtered(mentions: list[Mention], text: str, quoted: int) -> list[Mention]:
    """Drop what another recipe already shows and weak hits beside strong ones."""
    mentions = [_promoted(m) for m in mentions]
    names = {m.recipe.name for m in mentions}
    absorbed = {name for m in mentions for name in m.recipe.absorbs if name != m.recipe.name}
    strong_visual = any(m.strong and m.recipe.kind in VISUAL_KINDS for m in mentions)
    strong_names = {m.recipe.name for m in mentions if m.strong}
    kept = [m for m in mentions if m.recipe.name not in absorbed]
    kept = [m for m in kept if m.strong or not strong_visual or m.recipe.name in strong_names]
    if not strong_visual and len(text.split()) > PROSE_WORDS_LIMIT:  # prose that names no picture
        kept = [m for m in kept if m.recipe.kind is Kind.TEXT and m.strong]
    if "title" in names and quoted <= 1:  # the only quoted string is the title
        kept = [m for m in kept if m.recipe.name != "text" or m.keyword]
    return _equation_or_plot(kept, text)


PLOT_VERB_RE = re.compile(r"(?<![a-z])(?:plot|graph|curve|function|draw y)")


def _equation_or_plot(mentions: list[Mention], text: str) -> list[Mention]:
    """'x^2 + y^2 = 1' is an equation to show, 'plot y = x^2' a function to draw."""
    typed = next((m for m in mentions if m.recipe.name == "equation" and not m.keyword), None)
    if typed is None:
        return mentions
    inside = [m for m in mentions if m.recipe.kind is Kind.PLOT and typed.start <= m.start < typed.end]
    if PLOT_VERB_RE.search(text) or len(inside) < sum(m.recipe.kind is Kind.PLOT for m in mentions):
        return [m for m in mentions if m is not typed]
    return [m for m in mentions if m not in inside]


def analyse_prompt(prompt: str) -> PromptFacts:
    display = clean_display(prompt)
    window = display[:MAX_ANALYSED_CHARS]
    quoted = _quoted_spans(window)
    blanked = list(window)
    for start, end, _ in quoted:
        blanked[start:end] = " " * (end - start)
    unquoted = "".join(blanked)
    math = find_math(unquoted)
    math_at = max(unquoted.find(math), 0) if math else 0
    if math is None:
        math = next((q for _, _, q in quoted if find_math(q) == q.strip()), None)
        quoted = [span for span in quoted if span[2] != math]
    text = unquoted.lower()
    mentions = _raw_mentions(text) + _implicit_mentions(text, quoted, math, math_at)
    mentions = _filtered(_with_context(mentions, text), text, len(quoted))
    colours = tuple(_free_colours(text, mentions))
    return PromptFacts(display, text, tuple(q for _, _, q in quoted), math, colours, tuple(mentions))


def _free_colours(text: str, mentions: list[Mention]) -> list[str]:
    """Colours for titles, graphs and demos: the prompt's colour words, minus those that
    sit right before a shape ('a red square'), which belong to that shape."""
    shape_lead_ins = [(m.start - len(m.before), m.start) for m in mentions if m.recipe.kind is Kind.SHAPE]
    return [
        COLOUR_WORDS[match.group(1)]
        for match in COLOUR_RE.finditer(text)
        if not any(start <= match.start() < end for start, end in shape_lead_ins)
    ]


def match_recipes(prompt: str) -> list[Recipe]:
    """The recipes `prompt` asks for, each once, in the order the prompt names them."""
    seen: dict[str, Recipe] = {}
    for mention in analyse_prompt(prompt).mentions:
        seen.setdefault(mention.recipe.name, mention.recipe)
    return list(seen.values())


# --------------------------------------------------------------------------------------------
# The shape story: shapes in prompt order, with their colours and the motions acting on them.


def _shape_colour(mention: Mention, used: int) -> str:
    before = _colours_in(mention.before[-40:])
    if before:
        return before[-1]
    after = _colours_in(mention.after[:30])
    return after[0] if after else PALETTE[used % len(PALETTE)]


@dataclass
class Story:
    """Writes the shape story while walking the prompt's shape and motion mentions in order.

    Shapes named together before any motion appear together (a row); a shape named after the
    story has started, or after 'into'/'morph', replaces the current one with a transform.
    """

    lines: list[str] = field(default_factory=list)
    members: list[tuple[str, str]] = field(default_factory=list)  # (var, intro animation)
    subject: Subject | None = None
    first_colour: str = "BLUE"
    waiting: list[Mention] = field(default_factory=list)  # motions named before any shape
    pending_transform: Mention | None = None
    intro: Mention | None = None
    outro: Mention | None = None
    var_counts: dict[str, int] = field(default_factory=dict)
    shape_words: list[str] = field(default_factory=list)
    transformed: bool = False
    moved: bool = False

    def walk(self, mention: Mention) -> None:
        if mention.recipe.kind is Kind.SHAPE:
            self.shape(mention)
        else:
            self.motion(mention)

    def shape(self, mention: Mention) -> None:
        if len(self.shape_words) >= MAX_SHAPES:
            return
        if self.subject is None and self.members and self.pending_transform is not None:
            self.start()
        if self.subject is not None:
            self.transform_into(mention)
            return
        var, colour = self.declare(
            mention.recipe.name, mention.keyword, _shape_colour(mention, len(self.shape_words))
        )
        self.members.append((var, SHAPES[mention.recipe.name].intro))
        self.first_colour = self.first_colour if len(self.members) > 1 else colour

    def motion(self, mention: Mention) -> None:
        recipe = mention.recipe
        if recipe.phase is Phase.INTRO:
            self.intro = self.intro or mention
        elif recipe.phase is Phase.OUTRO:
            self.outro = self.outro or mention
        elif recipe.name == "transform":
            self.pending_transform = mention
        elif not self.members:
            self.waiting.append(mention)
        else:
            self.start()
            self.lines += recipe.build(self.subject, mention)
            self.moved = True

    def declare(self, name: str, word: str, colour: str) -> tuple[str, str]:
        self.var_counts[name] = self.var_counts.get(name, 0) + 1
        count = self.var_counts[name]
        var = name if count == 1 else f"{name}_{count}"
        self.lines.append(f"{var} = {RECIPES_BY_NAME[name].build(word, colour)}")
        self.shape_words.append(word)
        return var, colour

    def start(self) -> None:
        """Put the shapes named so far on screen, then play the motions named before them."""
        if self.subject is not None:
            return
        if len(self.members) == 1:
            self.subject = Subject(self.members[0][0], self.first_colour)
        else:
            names = ", ".join(var for var, _ in self.members)
            self.lines += [
                f"group = VGroup({names}).arrange(RIGHT, buff=0.8)",
                "if group.width > 6:",
                "    group.scale_to_fit_width(6)",
            ]
            self.subject = Subject("group", self.first_colour, is_group=True)
        self.lines += self.intro_lines()
        for mention in self.waiting:
            self.lines += mention.recipe.build(self.subject, mention)
            self.moved = True

    def intro_lines(self) -> list[str]:
        if self.intro is not None:
            return self.intro.recipe.build(self.subject, self.intro)
        animations = [f"{intro}({var})" for var, intro in self.members]
        if len(animations) == 1:
            return [f"self.play({animations[0]}, run_time=1)"]
        return [f"self.play(LaggedStart({', '.join(animations)}, lag_ratio=0.4), run_time=1.5)"]

    def transform_into(self, mention: Mention | None, colour: str | None = None) -> None:
        subject = self.subject
        assert subject is not None, "start() declares the subject"
        if mention is None:
            name = "square" if self.shape_words[-1].startswith("circle") else "circle"
            var, colour = self.declare(name, name, colour or next(c for c in PALETTE if c != subject.colour))
        else:
            var, colour = self.declare(
                mention.recipe.name, mention.keyword, _shape_colour(mention, len(self.shape_words))
            )
        if subject.turns:  # turned like the old shape, the morph does not pinch
            self.lines.append(f"{var}.rotate({' + '.join(subject.turns)})")
        self.lines += [
            f"{var}.move_to({subject.var})",
            f"self.play(ReplacementTransform({subject.var}, {var}), run_time=1.2)",
        ]
        self.subject = Subject(var, colour, subject.x, subject.y, turns=subject.turns)
        self.pending_transform = None
        self.transformed = True

    def finish(self) -> list[str]:
        self.start()
        assert self.subject is not None, "start() declares the subject"
        if self.pending_transform is not None:
            self.finish_transform(self.pending_transform)
        if not (self.moved or self.transformed or self.outro):  # a shape alone still breathes once
            self.lines.append(
                f"self.play({self.subject.var}.animate.scale(1.15), rate_func=there_and_back, run_time=0.8)"
            )
        if self.outro is not None:
            self.lines += self.outro.recipe.build(self.subject, self.outro)
        else:
            self.lines.append("self.wait(0.6)")
        return self.lines

    def finish_transform(self, mention: Mention) -> None:
        """A transform with no shape after it: 'becomes red' recolours, otherwise a new shape."""
        colours = _colours_in(mention.after)
        assert self.subject is not None, "start() declares the subject"
        if colours and mention.keyword.startswith("becom"):
            self.lines.append(f"self.play({self.subject.var}.animate.set_color({colours[0]}), run_time=0.8)")
        else:
            self.transform_into(None, colours[0] if colours else None)

    def scene_name(self) -> str:
        words = [_camel(word) for word in self.shape_words]
        if self.transformed:
            return f"{words[0]}To{words[-1]}"
        if len(words) >= 2:
            return f"{words[0]}And{words[1]}"
        return f"{words[0]}Scene"


def shape_story(mentions: list[Mention]) -> Section:
    """Shapes and motions as one part; a square stands in when only motions were named."""
    story = Story()
    if not any(m.recipe.kind is Kind.SHAPE for m in mentions):
        first = mentions[0]
        story.shape(
            Mention(RECIPES_BY_NAME["square"], first.start, first.start, "square", True, before=first.before)
        )
    for mention in mentions:
        story.walk(mention)
    lines = story.finish()
    return Section(story.scene_name(), lines)


# --------------------------------------------------------------------------------------------
# Putting a scene together.


def _parts(mentions: list[Mention]) -> list[str]:
    """The scene's parts in order: title, text, then the shape story, the plots and each demo
    in the order the prompt first names them. Motions alone are a story only when nothing
    else was asked for (they need something to move)."""
    names = {m.recipe.name for m in mentions}
    has_shapes = any(m.recipe.kind is Kind.SHAPE for m in mentions)
    parts: list[str] = [name for name in ("title", "text") if name in names]
    for mention in mentions:
        kind = mention.recipe.kind
        key = {Kind.SHAPE: "story", Kind.MOTION: "story", Kind.PLOT: "plots"}.get(kind, mention.recipe.name)
        if kind is not Kind.TEXT and key not in parts:
            parts.append(key)
    if not has_shapes and len(parts) > 1 and "story" in parts:
        parts.remove("story")
    return parts[:MAX_SECTIONS]


def _build_part(part: str, stage: Stage) -> Section:
    mentions = stage.facts.mentions
    if part == "story":
        return shape_story([m for m in mentions if m.recipe.kind in (Kind.SHAPE, Kind.MOTION)])
    if part == "plots":
        plots = list(dict.fromkeys(m.recipe for m in mentions if m.recipe.kind is Kind.PLOT))
        return Section(plots[0].scene_name, plot_lines(stage, [recipe.build() for recipe in plots]))
    recipe = RECIPES_BY_NAME[part]
    return Section(recipe.scene_name, recipe.build(stage), keeps_heading=part == "title")


def _sections(facts: PromptFacts, latex: bool) -> list[Section]:
    parts = _parts(list(facts.mentions))
    names = frozenset(m.recipe.name for m in facts.mentions)
    return [
        _build_part(part, Stage(facts, latex, names, follows=i + 1 < len(parts)))
        for i, part in enumerate(parts)
    ]


CLEAR_STAGE_METHOD = '''
    def clear_stage(self, keep=None):
        """Fade out everything but `keep` before the next part starts."""
        leaving = [mob for mob in self.mobjects if mob is not keep]
        if leaving:
            self.play(*[FadeOut(mob) for mob in leaving], run_time=0.5)
'''


TAG_RE = re.compile(r"\[offline ([0-9a-f]{10})\]")


def _script(scene_name: str, summary: str, body: list[str], helpers: str = "") -> str:
    """The whole file. The docstring carries a tag of the code, so a repair request that
    quotes this script (even renumbered or reformatted) can be recognised."""
    indented = "\n".join(f"        {line}" if line.strip() else "" for line in body)
    code = f"{helpers}\n    def construct(self):\n{indented}\n"
    tag = hashlib.sha256(f"{scene_name}\n{code}".encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f'from manim import *\n\n\nclass {scene_name}(Scene):\n    """{summary} [offline {tag}]"""\n{code}'


def script_tag(code: str) -> str | None:
    """The tag `_script` put in a script's docstring, if it has one."""
    match = TAG_RE.search(code)
    return match.group(0) if match else None


def _scene_name(sections: list[Section]) -> str:
    content = [s for s in sections if s.scene_name not in ("TitleScene", "TextScene")]
    return (content or sections)[0].scene_name


def compose_scene(prompt: str, *, latex: bool) -> str:
    """A complete Manim script for `prompt`: matched recipes in order, or a title card."""
    facts = analyse_prompt(prompt)
    sections = _sections(facts, latex)
    if not sections:
        return compose_title_card(prompt)
    body: list[str] = []
    heading = any(s.keeps_heading for s in sections)
    for index, section in enumerate(sections):
        if index:
            body += ["", "self.clear_stage(keep=heading)" if heading else "self.clear_stage()", ""]
        body += section.lines
    names = ", ".join(dict.fromkeys(m.recipe.name for m in facts.mentions))
    helpers = CLEAR_STAGE_METHOD if len(sections) > 1 else ""
    return _script(_scene_name(sections), f"Offline recipes: {names}.", body, helpers)


def compose_title_card(prompt: str) -> str:
    """The fallback for a prompt no recipe matches: the prompt itself, wrapped, on a card."""
    display = clean_display(prompt) or EMPTY_PROMPT_CARD
    lines = textwrap.wrap(display, width=32, break_long_words=True)
    card = "\n".join(lines[:4])
    if len(lines) > 4:
        card = card[:-1].rstrip() + "…"
    body = [
        f"card = Text({card!r}, font_size=48, line_spacing=1.1)",
        "if card.width > 12:",
        "    card.scale_to_fit_width(12)",
        "if card.height > 6:",
        "    card.scale_to_fit_height(6)",
        "underline = Line(LEFT * 3, RIGHT * 3, color=BLUE).next_to(card, DOWN, buff=0.4)",
        "self.play(Write(card), run_time=1.5)",
        "self.play(Create(underline), run_time=0.6)",
        "self.wait(1)",
    ]
    return _script("TitleCard", "The prompt on a title card (no recipe matched).", body)


def compose_minimal_scene() -> str:
    """The last resort: no text at all, only a shape (for when even a title card failed)."""
    body = [
        "circle = Circle(radius=1.5, color=BLUE, fill_opacity=0.5)",
        "self.play(Create(circle), run_time=1)",
        "self.wait(0.5)",
    ]
    return _script("MinimalScene", "A plain circle: the safest scene there is.", body)
