"""One filter graph per chunk: decoded picture -> [rotation] -> every rung's size.

The rungs are scaled from the (upright) source picture by FFmpeg's own `scale` filter
with its default bicubic, as `ffmpeg -filter_complex split,scale` does. Matching it
matters more than it seems: quality is judged against the source scaled that way, and
libswscale called directly (PyAV's `reformat`) sites chroma differently; that mismatch
alone cost 1.2 dB of 720p PSNR at the same bits (45.8 against 47.0 dB on the clean
pattern). Scaling each rung from the source, not from the rung above, keeps the
smaller rungs as sharp as the anchor's; the filter graph costs no more CPU per frame
than the cascade of `reformat` calls it replaces.
"""

from __future__ import annotations

from typing import Any

import av

_ROTATE_FILTERS = {90: ["transpose=clock"], 180: ["hflip", "vflip"], 270: ["transpose=cclock"]}


class LadderScaler:
    """`scale(frame)` gives one picture per size (yuv420p), plus the upright picture at
    the source's size when `upright=True` (a reference, no copy: for the poster)."""

    def __init__(
        self,
        stream: Any,
        *,
        rotation: int,
        sizes: list[tuple[int, int]],
        upright: bool = False,
    ) -> None:
        self.time_base = stream.time_base
        self.rotation, self.sizes, self.upright = rotation, sizes, upright
        self.shape: tuple[int, int, str] | None = None  # what the graph was built for

    def _build(self, frame: av.VideoFrame) -> None:
        """A graph for pictures like `frame`. Built again when they change size or format
        mid-stream (browser recordings do), as a bare `reformat` would have coped."""
        rotation, sizes, upright = self.rotation, self.sizes, self.upright
        self.shape = (frame.width, frame.height, frame.format.name)
        graph = av.filter.Graph()
        self.source = graph.add_buffer(
            width=frame.width,
            height=frame.height,
            format=frame.format,
            time_base=frame.time_base or self.time_base,
        )
        last = self.source
        for spec in _ROTATE_FILTERS.get(rotation, []):
            name, _, args = spec.partition("=")
            node = graph.add(name, args or None)
            last.link_to(node)
            last = node
        outputs = len(sizes) + (1 if upright else 0)
        split = graph.add("split", str(outputs))
        last.link_to(split)
        self.sinks = []
        for i, (width, height) in enumerate(sizes):
            scale = graph.add("scale", f"{width}:{height}:flags=bicubic")
            pixels = graph.add("format", "yuv420p")
            sink = graph.add("buffersink")
            split.link_to(scale, i, 0)
            scale.link_to(pixels)
            pixels.link_to(sink)
            self.sinks.append(sink)
        self.upright_sink = None
        if upright:
            self.upright_sink = graph.add("buffersink")
            split.link_to(self.upright_sink, outputs - 1, 0)
        graph.configure()
        self.graph = graph

    def scale(self, frame: av.VideoFrame) -> tuple[list[Any], Any]:
        """The rungs' pictures (`av.VideoFrame`s, in `sizes` order) and the upright one."""
        if self.shape != (frame.width, frame.height, frame.format.name):
            self._build(frame)
        self.source.push(frame)
        pictures = [sink.pull() for sink in self.sinks]
        upright = self.upright_sink.pull() if self.upright_sink is not None else None
        return pictures, upright
