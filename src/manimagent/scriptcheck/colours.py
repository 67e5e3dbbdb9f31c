"""Colours given in forms ManimColor refuses ("Color X not found"), rewritten to forms it takes.

ManimColor takes `#RRGGBB[AA]`, RGB tuples and manim's own colour names in any case
(`blue`, `LIGHT_GRAY`). LLMs also write hex without `#`, `rgb(...)` strings, CSS names manim
does not define (`navy`, `cyan`) and manim names with spaces or without their underscore
(`light blue`, `darkblue`). Each is rewritten to the equivalent manim accepts.
"""

from __future__ import annotations

import re

# CSS colour names manim does not define (manim's own names, e.g. "orange", "gold", pass as they are)
CSS_COLOURS: dict[str, str] = {
    "navy": "#000080",
    "cyan": "#00FFFF",
    "aqua": "#00FFFF",
    "magenta": "#FF00FF",
    "fuchsia": "#FF00FF",
    "lime": "#00FF00",
    "indigo": "#4B0082",
    "violet": "#EE82EE",
    "crimson": "#DC143C",
    "silver": "#C0C0C0",
    "turquoise": "#40E0D0",
    "beige": "#F5F5DC",
    "salmon": "#FA8072",
    "coral": "#FF7F50",
    "khaki": "#F0E68C",
    "lavender": "#E6E6FA",
    "olive": "#808000",
    "tan": "#D2B48C",
    "chocolate": "#D2691E",
    "skyblue": "#87CEEB",
    "lightblue": "#ADD8E6",
    "darkgreen": "#006400",
    "darkred": "#8B0000",
    "lightgreen": "#90EE90",
    "darkorange": "#FF8C00",
    "darkviolet": "#9400D3",
    "steelblue": "#4682B4",
    "royalblue": "#4169E1",
    "forestgreen": "#228B22",
    "firebrick": "#B22222",
    "slategray": "#708090",
    "slategrey": "#708090",
    "darkslategray": "#2F4F4F",
    "midnightblue": "#191970",
    "deepskyblue": "#00BFFF",
    "dodgerblue": "#1E90FF",
    "hotpink": "#FF69B4",
    "deeppink": "#FF1493",
    "orchid": "#DA70D6",
    "plum": "#DDA0DD",
    "amber": "#FFBF00",
    "black": "#000000",
    "brown": "#A52A2A",
    "cream": "#FFFDD0",
    "mint": "#98FF98",
    "peach": "#FFE5B4",
    "emerald": "#50C878",
    "ivory": "#FFFFF0",
    "wheat": "#F5DEB3",
    "sienna": "#A0522D",
    "tomato": "#FF6347",
}
_PREFIXES = ("DARKER", "DARK", "LIGHTER", "LIGHT", "PURE")
_HEX = re.compile(r"(?:0x)?([0-9a-fA-F]{6}(?:[0-9a-fA-F]{2})?|[0-9a-fA-F]{3})")
_RGB = re.compile(
    r"rgba?\(\s*(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})\s*(?:,\s*[\d.]+\s*)?\)", re.IGNORECASE
)
_NOT_FOUND = re.compile(r"^Color (?P<value>.+) not found$")


def refused_colour(message: str) -> str | None:
    """The colour value in ManimColor's "Color X not found" message."""
    match = _NOT_FOUND.match(message.strip())
    return match["value"] if match else None


def accepted_colour(value: str, manim_names: frozenset[str]) -> str | None:
    """A form of `value` that ManimColor takes, or None when there is no sure one."""
    text = value.strip()
    if match := _HEX.fullmatch(text):
        return "#" + match[1].upper()
    if match := _RGB.fullmatch(text):
        red, green, blue = (min(int(part), 255) for part in match.groups())
        return f"#{red:02X}{green:02X}{blue:02X}"
    key = re.sub(r"[\s-]+", "_", text).upper()
    for prefix in _PREFIXES:  # "darkblue" -> "DARK_BLUE"
        if (
            key.startswith(prefix)
            and not key.startswith(prefix + "_")
            and f"{prefix}_{key[len(prefix) :]}" in manim_names
        ):
            return f"{prefix}_{key[len(prefix) :]}"
    if key in manim_names and key != text:
        return key
    return CSS_COLOURS.get(text.lower().replace(" ", "").replace("_", "").replace("-", ""))
