"""Pictures of a finished render, made with PyAV (manim's own video library) and Pillow:

- the poster: a PNG of a frame from the video's last second, beside the video with the same stem
  (for an image output, the image itself). Every successful execution has one; a cached one whose
  video is its source's (a hard link) links its source's poster instead of decoding a frame again.
- the preview: a small GIF beside the video (`<stem>.preview.gif`, 480 px wide, 12 fps), on request.

Neither is stored in the database: the poster's path follows from the video's (`poster_for`).
"""

from __future__ import annotations

import itertools
import os
from fractions import Fraction
from pathlib import Path

from manimagent.errors import MediaFailed
from manimagent.render.cache import link_or_copy

IMAGE_SUFFIXES = frozenset({".png"})
POSTER_SUFFIX = ".png"
POSTER_FROM_END = 1.0  # seconds: the poster is the first frame of the video's last second
PREVIEW_SUFFIX = ".preview.gif"
PREVIEW_WIDTH = 480
PREVIEW_FPS = 12
PREVIEW_MAX_SECONDS = 60.0  # a longer video's preview is its first minute


def warm_up() -> None:
    """Import PyAV and Pillow in a background thread while a render runs (the process only waits
    for it then), so that the poster after it costs its frame, not 0.1 s of imports."""
    import sys
    import threading

    if "av" in sys.modules and "PIL.Image" in sys.modules:
        return
    threading.Thread(target=_import_libraries, name="poster-warm-up", daemon=True).start()


def _import_libraries() -> None:
    try:
        import av  # noqa: F401
        import PIL.Image  # noqa: F401
    except ImportError:  # pragma: no cover - manim requires both; the poster then says nothing
        pass


def poster_path(output: str | Path) -> Path:
    """Where the poster of `output` is (or goes): the image itself, else `<stem>.png` beside it."""
    path = Path(output)
    return path if path.suffix.lower() in IMAGE_SUFFIXES else path.with_suffix(POSTER_SUFFIX)


def poster_for(output: str | None) -> str | None:
    """The poster of an output that exists, as a string; None without an output or a poster."""
    if not output:
        return None
    poster = poster_path(output)
    return str(poster) if poster.is_file() else None


def preview_path(video: str | Path) -> Path:
    path = Path(video)
    return path.with_name(path.stem + PREVIEW_SUFFIX)


def make_poster(output: Path) -> Path | None:
    """Write the poster of `output` (a video) beside it, unless a file is there already (another
    scene's image); returns it, or None when the video cannot be read: a poster never fails a render."""
    poster = poster_path(output)
    if poster == output or poster.exists():
        return poster if poster.is_file() else None
    try:
        frame = _frame_near_end(output)
        _save_atomically(frame, poster)
    except (MediaFailed, OSError, ValueError):
        return None
    return poster


def reuse_poster(output: Path, source_output: str | Path | None) -> Path | None:
    """The poster of a cached execution's `output`, linked from the poster of its source execution's
    output when the two are one file (hard links of the same render); None when they are not, or
    the source has no poster: then it is made (`make_poster`)."""
    if not source_output:
        return None
    poster, source_poster = poster_path(output), poster_path(source_output)
    try:
        if poster == output or not os.path.samefile(output, source_output) or not source_poster.is_file():
            return None
        if not poster.exists():
            link_or_copy(source_poster, poster)
    except OSError:
        return None
    return poster if poster.is_file() else None


def make_preview(video: Path) -> Path:
    """Write `<stem>.preview.gif` beside `video`: PREVIEW_WIDTH wide, PREVIEW_FPS frames a second."""
    if video.suffix.lower() in IMAGE_SUFFIXES:
        raise MediaFailed(
            f"{video.name} is an image, not a video: it has no preview", hint="It can be shown as it is"
        )
    frames = _frames_at(video, PREVIEW_FPS, PREVIEW_WIDTH)
    target = preview_path(video)
    partial = target.with_name(f".{target.name}.part")
    try:
        first, rest = frames[0], frames[1:]
        first.save(
            partial,
            format="GIF",
            save_all=True,
            append_images=rest,
            duration=_gif_delays(len(frames)),
            loop=0,
            optimize=False,
        )
        partial.replace(target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise MediaFailed(f"could not write the preview {target}: {exc.strerror or exc}") from exc
    return target


def _frame_near_end(video: Path):
    """The first frame at or after POSTER_FROM_END seconds before the end (a PIL image)."""
    import av

    try:
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            target = max(0.0, _duration(container, stream) - POSTER_FROM_END)
            frame = _decode_from(container, stream, target)
            if frame is None:  # the seek landed past every frame (an odd index): read from the start
                container.seek(0)
                frame = _decode_from(container, stream, target)
    except (av.FFmpegError, IndexError, OSError) as exc:
        raise MediaFailed(f"could not read {video.name}: {exc}") from exc
    if frame is None:
        raise MediaFailed(f"{video.name} has no video frames")
    return frame.to_image()


def _duration(container, stream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return float(container.duration or 0) / 1_000_000


def _decode_from(container, stream, seconds: float):
    """The first frame at or after `seconds` (the last frame when the video ends before it)."""
    if seconds > 0:
        container.seek(int(seconds / stream.time_base), stream=stream, backward=True)
    last = None
    for frame in container.decode(stream):
        last = frame
        if frame.time is not None and frame.time >= seconds - 1e-6:
            return frame
    return last


def _frames_at(video: Path, fps: int, width: int) -> list:
    """The frames shown at each 1/fps step of `video` (its first PREVIEW_MAX_SECONDS), `width` wide."""
    import av

    images = []
    step = Fraction(1, fps)
    try:
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            height = _even(round(stream.height * width / stream.width))
            next_time = Fraction(0)
            for frame in container.decode(stream):
                seconds = Fraction(frame.time or 0).limit_denominator(100_000)
                if seconds >= PREVIEW_MAX_SECONDS:
                    break
                while seconds + Fraction(1, 1000) >= next_time:
                    images.append(frame.reformat(width=width, height=height, format="rgb24").to_image())
                    next_time += step
    except (av.FFmpegError, IndexError, OSError, ZeroDivisionError) as exc:
        raise MediaFailed(f"could not read {video.name}: {exc}") from exc
    if not images:
        raise MediaFailed(f"{video.name} has no video frames")
    return images


def _even(number: int) -> int:
    return max(2, number - number % 2)


def _gif_delays(count: int) -> list[int]:
    """Each frame's delay in ms: GIF counts in hundredths of a second, so 1/12 s alternates
    between 80 and 90 ms, and the whole lasts count/12 s."""
    edges = [round(100 * index / PREVIEW_FPS) * 10 for index in range(count + 1)]
    return [later - earlier for earlier, later in itertools.pairwise(edges)]


def _save_atomically(image, target: Path) -> None:
    partial = target.with_name(f".{target.name}.part")
    try:
        image.save(partial, format="PNG")
        partial.replace(target)
    except OSError:
        partial.unlink(missing_ok=True)
        raise
