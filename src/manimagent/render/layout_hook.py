"""The layout check, loaded into a render's child (local or Docker) before manim runs the scene.

At the end of every `play` (and so every `wait`) and at the end of each scene it records:
- `off_frame`: a visible mobject whose bounding box leaves the camera's frame, and by how much;
- `overlap`: two visible text or math mobjects (Text, MarkupText, Paragraph, Tex, MathTex, ...)
  whose bounding boxes overlap, and what share of the smaller one is covered.
Findings go to `layout.json` in the working directory (the job folder), rewritten when they
change: the child may be killed at any time. The host reads that file as untrusted output
(`manimagent.render.layout`). Plain Python on purpose: it imports only manim, numpy, json, os,
and it is executed (not imported) by the child, so it must not raise into the render.
"""

import json
import os

import manim
import numpy as np

FINDINGS_FILE = "layout.json"
FRAME_TOLERANCE = 0.1  # units a box may pass the frame edge (strokes, curve control points)
OVERLAP_SHARE = 0.2  # share of the smaller box another text must cover to count
COPY_TOLERANCE = 0.01  # units: boxes this close are copies of one outline
MIN_SIDE = 0.05  # units: flat boxes (a minus sign) get this much height for the overlap share
MAX_FINDINGS = 50
MAX_TEXTS = 200  # text mobjects compared per check (pairs grow as the square)
TEXT_CLASS_NAMES = (
    "Text",
    "MarkupText",
    "Paragraph",
    "Tex",
    "MathTex",
    "SingleStringMathTex",
    "DecimalNumber",
    "Integer",
    "Title",
    "BulletedList",
)
CONTAINER_CLASS_NAMES = ("VGroup", "Group", "VDict")
# Meant to run across the frame edge (plots, tangents, flow lines, background planes) or never seen.
NOT_FRAMED_CLASS_NAMES = frozenset(
    {
        "ParametricFunction",
        "ImplicitFunction",
        "TangentLine",
        "StreamLines",
        "StreamLine",
        "NumberPlane",
        "ValueTracker",
    }
)


def _classes(names):
    return tuple(getattr(manim, name) for name in names if isinstance(getattr(manim, name, None), type))


TEXT_CLASSES = _classes(TEXT_CLASS_NAMES)
CONTAINER_CLASSES = _classes(CONTAINER_CLASS_NAMES)


class LayoutRecorder:
    """Findings of one render, keyed so a problem that lasts is one finding (first time, worst amount)."""

    def __init__(self, path):
        self.path = path
        self.findings = {}
        self.changed = False

    def note(self, key, finding):
        known = self.findings.get(key)
        if known is None:
            if len(self.findings) >= MAX_FINDINGS:
                return
            self.findings[key] = finding
            self.changed = True
        elif finding["amount"] > known["amount"] + 1e-3:
            known["amount"] = finding["amount"]
            known["sides"] = sorted(set(known["sides"]) | set(finding["sides"]))
            self.changed = True

    def flush(self):
        if not self.changed:
            return
        temporary = self.path + ".tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump({"version": 1, "findings": list(self.findings.values())}, handle)
        os.replace(temporary, self.path)
        self.changed = False


def _visible_points(mobject):
    """The points of the family members that can be seen (some fill or stroke opacity)."""
    chunks = []
    for member in mobject.get_family():
        points = getattr(member, "points", None)
        if points is None or len(points) == 0 or not _is_visible(member):
            continue
        chunks.append(np.asarray(points, dtype=float)[:, :2])
    if not chunks:
        return None
    points = np.concatenate(chunks)
    return points[np.isfinite(points).all(axis=1)]


def _is_visible(member):
    if isinstance(member, manim.VMobject):
        fill = np.max(np.asarray(member.get_fill_opacities(), dtype=float), initial=0)
        stroke = (
            np.max(np.asarray(member.get_stroke_opacities(), dtype=float), initial=0)
            if member.get_stroke_width() > 0
            else 0
        )
        return bool(fill > 0.01 or stroke > 0.01)
    rgbas = getattr(member, "rgbas", None)  # point clouds
    if rgbas is not None and len(rgbas):
        return bool(np.max(np.asarray(rgbas, dtype=float)[:, 3]) > 0.01)
    if isinstance(member, manim.AbstractImageMobject):
        return float(getattr(member, "opacity", 1.0) or 0) > 0.01
    return False  # a plain Mobject's points (a ValueTracker's value, a group's anchor) are not drawn


def _box(mobject):
    points = _visible_points(mobject)
    if points is None or len(points) == 0:
        return None
    return np.concatenate([points.min(axis=0), points.max(axis=0)])  # x0, y0, x1, y1


def describe(mobject):
    """A short name: the class and, for text, its first characters."""
    name = type(mobject).__name__
    for attribute in ("original_text", "text", "tex_string", "number"):
        value = getattr(mobject, attribute, None)
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            text = " ".join(str(value).split())
            return (
                f"{name}({text[:40] + '…' if len(text) > 40 else text!r})"
                if isinstance(value, str)
                else f"{name}({value:g})"
            )
    return name


def _not_framed(mobject):
    return any(kind.__name__ in NOT_FRAMED_CLASS_NAMES for kind in type(mobject).__mro__)


def _camera_moved(scene):
    """A moving camera that zoomed or panned: what is outside its view is there on purpose."""
    camera = scene.camera
    if not hasattr(camera, "frame"):
        return False
    center = np.asarray(camera.frame_center, dtype=float)[:2]
    width = float(camera.frame_width)
    return bool(
        abs(width - manim.config.frame_width) > 0.01 * manim.config.frame_width or np.abs(center).max() > 0.05
    )


def _frame(scene):
    camera = scene.camera
    center = np.asarray(camera.frame_center, dtype=float)[:2]
    half = np.array([camera.frame_width, camera.frame_height], dtype=float) / 2
    return np.concatenate([center - half, center + half])


def _units(scene):
    """What to check separately: top-level mobjects, groups opened up into their members."""
    stack, seen = list(reversed([*scene.mobjects, *scene.foreground_mobjects])), set()
    while stack:
        mobject = stack.pop()
        if id(mobject) in seen:
            continue
        seen.add(id(mobject))
        if type(mobject) in CONTAINER_CLASSES:
            stack.extend(reversed(mobject.submobjects))
        else:
            yield mobject


def _texts(scene):
    """The outermost text and math mobjects in the scene."""
    found, stack, seen = [], list(reversed([*scene.mobjects, *scene.foreground_mobjects])), set()
    while stack and len(found) < MAX_TEXTS:
        mobject = stack.pop()
        if id(mobject) in seen:
            continue
        seen.add(id(mobject))
        if isinstance(mobject, TEXT_CLASSES):
            found.append(mobject)
        else:
            stack.extend(reversed(mobject.submobjects))
    return found


def _outside(box, frame):
    """How far past each frame edge the box reaches (positive: outside)."""
    return {
        "left": frame[0] - box[0],
        "bottom": frame[1] - box[1],
        "right": box[2] - frame[2],
        "top": box[3] - frame[3],
    }


def check_frame(scene, recorder, scene_name, time):
    if _camera_moved(scene):
        return
    frame = _frame(scene)
    for mobject in _units(scene):
        if _not_framed(mobject):
            continue
        box = _box(mobject)
        if box is None:
            continue
        past = _outside(box, frame)
        if min(past.values()) >= -FRAME_TOLERANCE:  # covers the whole frame: a background
            continue
        sides = sorted(side for side, amount in past.items() if amount > FRAME_TOLERANCE)
        if sides:
            amount = round(max(past[side] for side in sides), 3)
            finding = {
                "kind": "off_frame",
                "scene": scene_name,
                "time": round(time, 3),
                "mobject": describe(mobject),
                "other": None,
                "amount": amount,
                "sides": sides,
            }
            recorder.note(("off_frame", scene_name, id(mobject)), finding)


def check_overlaps(scene, recorder, scene_name, time):
    texts = [(mobject, box) for mobject in _texts(scene) for box in [_box(mobject)] if box is not None]
    if len(texts) < 2:
        return
    boxes = np.array([box for _, box in texts])
    sizes = np.maximum(boxes[:, 2:] - boxes[:, :2], MIN_SIDE)
    areas = sizes[:, 0] * sizes[:, 1]
    for i in range(len(texts) - 1):
        low = np.maximum(boxes[i, :2], boxes[i + 1 :, :2])
        high = np.minimum(boxes[i, 2:], boxes[i + 1 :, 2:])
        common = np.clip(high - low, 0, None).prod(axis=1)
        share = common / np.minimum(areas[i], areas[i + 1 :])
        for offset in np.nonzero(share > OVERLAP_SHARE)[0]:
            j = i + 1 + int(offset)
            first, second = texts[i][0], texts[j][0]
            if _copies(first, second, boxes[i], boxes[j]):
                continue
            finding = {
                "kind": "overlap",
                "scene": scene_name,
                "time": round(time, 3),
                "mobject": describe(first),
                "other": describe(second),
                "amount": round(min(float(share[offset]), 1.0), 3),
                "sides": [],
            }
            recorder.note(("overlap", scene_name, id(first), id(second)), finding)


def _copies(first, second, first_box, second_box):
    """Copies on top of each other: the same text with the same box to 0.01 units (a glow, a
    boundary), or two numbers so (a finished Transform leaves the source with the target's outline
    but its old value)."""
    if not np.allclose(first_box, second_box, atol=COPY_TOLERANCE):
        return False
    numbers = _classes(("DecimalNumber", "Integer"))
    return describe(first) == describe(second) or (isinstance(first, numbers) and isinstance(second, numbers))


def check_scene(scene, recorder):
    """Both checks on the scene as it is now; a problem in the check never breaks the render."""
    if isinstance(scene.camera, manim.ThreeDCamera) or not hasattr(scene.camera, "frame_center"):
        return  # 3-D projections and the OpenGL camera: bounding boxes are not what is seen
    try:
        name, time = type(scene).__name__, float(scene.renderer.time)
        check_frame(scene, recorder, name, time)
        check_overlaps(scene, recorder, name, time)
        recorder.flush()
    except Exception:  # noqa: BLE001 - the check is advice; the render is what matters
        pass


def install(path=FINDINGS_FILE):
    """Wrap Scene.play (wait plays a Wait) and Scene.tear_down (the last frame of still scenes)."""
    recorder = LayoutRecorder(os.path.abspath(path))
    play, tear_down = manim.Scene.play, manim.Scene.tear_down

    def checked_play(self, *args, **kwargs):
        result = play(self, *args, **kwargs)
        check_scene(self, recorder)
        return result

    def checked_tear_down(self):
        check_scene(self, recorder)
        return tear_down(self)

    manim.Scene.play = checked_play
    manim.Scene.tear_down = checked_tear_down
    return recorder


install()
