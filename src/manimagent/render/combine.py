"""Joining several scenes' videos into one, in order, and turning a still scene's last frame into a
short video, with PyAV (in a child-free, manim-free way)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from manimagent.errors import MediaFailed

# codec and pixel format of the videos we encode ourselves (manim's own choices for these containers)
ENCODERS = {
    ".mp4": ("libx264", "yuv420p"),
    ".mov": ("libx264", "yuv420p"),
    ".webm": ("libvpx-vp9", "yuv420p"),
}


def combine_videos(parts: list[Path], target: Path, *, reencode: bool = False) -> Path:
    """Concatenate `parts` into `target`: stream copy for mp4/mov/webm; re-encoding for gif, and for
    any format when `reencode` (parts from different encoders, e.g. a still scene's video)."""
    import av

    try:
        if target.suffix == ".gif" or reencode:
            _reencode_video(av, parts, target)
        else:
            _remux(av, parts, target)
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise MediaFailed(f"could not join the scenes into one video: {exc}") from exc
    return target


def _remux(av, parts: list[Path], target: Path) -> None:
    with av.open(str(target), "w") as out:
        template = None
        out_stream = None
        offset = 0
        for part in parts:
            with av.open(str(part)) as src:
                stream = src.streams.video[0]
                if out_stream is None:
                    template = stream
                    out_stream = out.add_stream_from_template(template)
                last_end = offset
                for packet in src.demux(stream):
                    if packet.dts is None:
                        continue
                    packet_end = packet.pts + (packet.duration or 0) if packet.pts is not None else packet.dts
                    packet.pts = None if packet.pts is None else packet.pts + offset
                    packet.dts = packet.dts + offset
                    last_end = max(last_end, packet_end + offset)
                    packet.stream = out_stream
                    out.mux(packet)
                offset = last_end


def still_video(image: Path, target: Path, *, seconds: float, fps: int) -> Path:
    """A video of `seconds` showing `image` (a still scene's last frame), at `fps`."""
    import av

    frames = max(1, round(seconds * fps))
    try:
        with av.open(str(image)) as src:
            picture = next(src.decode(video=0)).to_image().convert("RGB")
        with av.open(str(target), "w") as out:
            stream = _video_stream(av, out, target.suffix, fps, picture.width, picture.height)
            frame = av.VideoFrame.from_image(picture)
            for index in range(frames):
                _encode(stream, out, frame, index)
            _flush(stream, out)
    except (av.FFmpegError, OSError, ValueError, StopIteration) as exc:
        raise MediaFailed(f"could not make a still video of {image.name}: {exc}") from exc
    return target


def _video_stream(av, out, suffix: str, fps: int, width: int, height: int):
    """An output stream for our own encoding: gif in gif's palette, else ENCODERS; even sizes for yuv420p."""
    if suffix == ".gif":
        stream = out.add_stream("gif", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "rgb8"
        return stream
    codec, pix_fmt = ENCODERS.get(suffix, ENCODERS[".mp4"])
    stream = out.add_stream(codec, rate=fps)
    stream.width, stream.height, stream.pix_fmt = width - width % 2, height - height % 2, pix_fmt
    return stream


def _encode(stream, out, frame, pts: int) -> None:
    """Encode `frame` as frame number `pts` of `stream` (its time base: one frame)."""
    image = frame.reformat(width=stream.width, height=stream.height, format=stream.pix_fmt)
    image.pts = pts
    image.time_base = Fraction(1, round(stream.average_rate or stream.rate))
    for packet in stream.encode(image):
        out.mux(packet)


def _flush(stream, out) -> None:
    for packet in stream.encode():
        out.mux(packet)


def _reencode_video(av, parts: list[Path], target: Path) -> None:
    """Decode every part and encode one video, at the first part's size and frame rate."""
    with av.open(str(target), "w") as out:
        stream = None
        pts = 0
        for part in parts:
            with av.open(str(part)) as src:
                src_stream = src.streams.video[0]
                if stream is None:
                    rate = round(src_stream.guessed_rate or src_stream.average_rate or 15)
                    stream = _video_stream(av, out, target.suffix, rate, src_stream.width, src_stream.height)
                for frame in src.decode(src_stream):
                    _encode(stream, out, frame, pts)
                    pts += 1
        if stream is not None:
            _flush(stream, out)
