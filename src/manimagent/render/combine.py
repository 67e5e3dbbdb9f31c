"""Joining several scenes' videos into one, in order, with PyAV (in a child-free, manim-free way)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from manimagent.errors import RenderFailed


def combine_videos(parts: list[Path], target: Path) -> Path:
    """Concatenate `parts` into `target`: stream copy for mp4/mov/webm, re-encoding for gif."""
    import av

    try:
        if target.suffix == ".gif":
            _reencode(av, parts, target)
        else:
            _remux(av, parts, target)
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise RenderFailed(f"could not join the scenes into one video: {exc}") from exc
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


def _reencode(av, parts: list[Path], target: Path) -> None:
    with av.open(str(target), "w") as out:
        stream = None
        pts = 0
        for part in parts:
            with av.open(str(part)) as src:
                src_stream = src.streams.video[0]
                if stream is None:
                    rate = src_stream.average_rate or Fraction(15)
                    stream = out.add_stream("gif", rate=rate)
                    stream.width, stream.height = src_stream.width, src_stream.height
                    stream.pix_fmt = "rgb8"
                for frame in src.decode(src_stream):
                    image = frame.reformat(format="rgb8")
                    image.pts = pts
                    pts += 1
                    for packet in stream.encode(image):
                        out.mux(packet)
        if stream is not None:
            for packet in stream.encode():
                out.mux(packet)
