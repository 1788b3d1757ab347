"""A small raster plotting canvas: numpy pixels for the data, Pillow for frames, ticks and text.

What the diagnostic report needs and nothing more: pictures, stacked step histograms, scatter
plots with translucent points, framed axes with "nice" ticks, titles, a legend. Data are drawn
into a numpy RGB array (vectorised: a histogram or 20,000 points take milliseconds), then
frames and text are drawn on it with Pillow. The lesson's figure takes a tenth or two of a second
this way, where matplotlib needed well over a second with its import: most of a fast run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

Colour = Sequence[float]  # RGB in 0..1
#: Approximate number of ticks per axis.
TICKS = 4
TICK_LENGTH = 4


@lru_cache(maxsize=None)
def font(size: int) -> ImageFont.ImageFont:
    """Pillow's scalable default font at ``size`` pixels (its fixed bitmap font on Pillow < 10.1)."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: no size argument
        return ImageFont.load_default()


def nice_ticks(low: float, high: float, count: int = TICKS) -> list[float]:
    """About ``count`` round tick values (steps of 1, 2, 2.5 or 5 × 10ⁿ) within [low, high]."""
    if not high > low:
        return [low]
    raw = (high - low) / count
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9)
    values = [i * step for i in range(first, int(math.floor(high / step + 1e-9)) + 1)]
    return [0.0 if abs(v) < step * 1e-9 else v for v in values]


def tick_label(value: float, ticks: Sequence[float]) -> str:
    """``value`` with as many decimals as the tick step needs."""
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else abs(value) or 1.0
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    if not math.isclose(round(step, decimals), step, rel_tol=1e-6):  # e.g. a step of 0.25
        decimals += 1
    return f"{value:.{decimals}f}"


def to_bytes(colour: Colour) -> tuple[int, int, int]:
    """An RGB colour in 0..1 as 0..255 integers."""
    return tuple(int(round(255 * float(c))) for c in colour[:3])  # type: ignore[return-value]


@dataclass
class Box:
    """A rectangle in pixels: left, top, right, bottom (right and bottom excluded)."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top


def grid_boxes(width: int, height: int, rows: int, columns: int, margins: tuple[float, float, float, float],
               wspace: float, hspace: float) -> list[list[Box]]:
    """Cells of a rows × columns grid inside the figure fractions ``margins`` (left, right, bottom,
    top, as matplotlib's ``subplots_adjust``), gaps ``wspace``/``hspace`` times a cell."""
    left, right, bottom, top = margins
    cell_w = (right - left) * width / (columns + wspace * (columns - 1))
    cell_h = (top - bottom) * height / (rows + hspace * (rows - 1))
    boxes = []
    for r in range(rows):
        y0 = (1 - top) * height + r * cell_h * (1 + hspace)
        boxes.append([Box(int(round(left * width + c * cell_w * (1 + wspace))), int(round(y0)),
                          int(round(left * width + c * cell_w * (1 + wspace) + cell_w)), int(round(y0 + cell_h)))
                      for c in range(columns)])
    return boxes


class Canvas:
    """An RGB picture: data drawn into ``pixels`` first, then frames and text (:meth:`finish`)."""

    def __init__(self, width: int, height: int) -> None:
        self.pixels = np.full((height, width, 3), 255.0, dtype=np.float32)
        self._texts: list[tuple[tuple[float, float], str, int, str, tuple[int, int, int]]] = []
        self._lines: list[tuple[list[tuple[float, float]], tuple[int, int, int]]] = []
        self._patches: list[tuple[Box, tuple[int, int, int], tuple[int, int, int] | None]] = []

    def text(self, xy: tuple[float, float], value: str, size: int, anchor: str = "mm", fill: Colour = (0, 0, 0)) -> None:
        """Text at ``xy`` (Pillow anchor, e.g. "mm" centred, "rm" right-middle)."""
        self._texts.append((xy, value, size, anchor, to_bytes(fill)))

    def line(self, points: list[tuple[float, float]], fill: Colour = (0, 0, 0)) -> None:
        """A one-pixel polyline."""
        self._lines.append((points, to_bytes(fill)))

    def rectangle(self, box: Box, fill: Colour, outline: Colour | None = None) -> None:
        """A filled rectangle drawn with the frames (over the data)."""
        self._patches.append((box, to_bytes(fill), None if outline is None else to_bytes(outline)))

    def picture(self, rgb: np.ndarray, box: Box) -> Box:
        """``rgb`` (rows, columns, 3 in 0..1, first row on top) scaled to fit ``box``, centred,
        aspect kept; returns where it went."""
        rows, columns = rgb.shape[:2]
        scale = min(box.width / columns, box.height / rows)
        width, height = max(1, int(round(columns * scale))), max(1, int(round(rows * scale)))
        image = Image.fromarray(np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8), "RGB")
        scaled = np.asarray(image.resize((width, height), Image.BILINEAR), dtype=np.float32)
        left, top = box.left + (box.width - width) // 2, box.top + (box.height - height) // 2
        self.pixels[top:top + height, left:left + width] = scaled
        return Box(left, top, left + width, top + height)

    def finish(self) -> Image.Image:
        """The picture with frames and text drawn over the data."""
        self.pixels += 0.5  # rounding; every pixel is a blend of colours in 0..255
        image = Image.fromarray(self.pixels.astype(np.uint8), "RGB")
        self.pixels -= 0.5
        draw = ImageDraw.Draw(image)
        for box, fill, outline in self._patches:
            draw.rectangle((box.left, box.top, box.right - 1, box.bottom - 1), fill=fill, outline=outline)
        for points, fill in self._lines:
            draw.line(points, fill=fill, width=1)
        for xy, value, size, anchor, fill in self._texts:
            draw.text(xy, value, font=font(size), anchor=anchor, fill=fill)
        return image

    def save_png(self, path: str | Path) -> None:
        """Write the finished picture as a PNG (Pillow, fastest compression: flat panels compress well anyway)."""
        self.finish().save(path, format="PNG", compress_level=1)


class Axes:
    """A framed plotting area with data limits; draws into its canvas's pixels."""

    def __init__(self, canvas: Canvas, box: Box, xlim: tuple[float, float], ylim: tuple[float, float]) -> None:
        self.canvas, self.box = canvas, box
        self.xlim = xlim if xlim[1] > xlim[0] else (xlim[0] - 0.5, xlim[0] + 0.5)
        self.ylim = ylim if ylim[1] > ylim[0] else (ylim[0] - 0.5, ylim[0] + 0.5)

    def x_pixels(self, x: np.ndarray) -> np.ndarray:
        """Column (float, in the canvas) of data ``x``."""
        low, high = self.xlim
        return self.box.left + (np.asarray(x, dtype=np.float64) - low) / (high - low) * self.box.width

    def y_pixels(self, y: np.ndarray) -> np.ndarray:
        """Row (float, in the canvas) of data ``y``: up is larger."""
        low, high = self.ylim
        return self.box.bottom - (np.asarray(y, dtype=np.float64) - low) / (high - low) * self.box.height

    @property
    def area(self) -> np.ndarray:
        """The pixels inside the frame (a view)."""
        return self.canvas.pixels[self.box.top:self.box.bottom, self.box.left:self.box.right]

    def stacked_steps(self, edges: np.ndarray, counts: np.ndarray, colours: Sequence[Colour]) -> None:
        """Filled step histograms stacked bottom to top: ``counts`` (layers, bins) over ``edges``."""
        area = self.area
        columns = self.box.left + np.arange(self.box.width) + 0.5
        low, high = self.xlim
        x = low + (columns - self.box.left) / self.box.width * (high - low)
        bins = np.searchsorted(edges, x, side="right") - 1
        inside = (bins >= 0) & (bins < counts.shape[1])
        tops = np.cumsum(counts, axis=0)[:, np.clip(bins, 0, counts.shape[1] - 1)]  # (layers, columns)
        rows = self.box.top + np.arange(self.box.height) + 0.5
        level = self.ylim[0] + (self.box.bottom - rows) / self.box.height * (self.ylim[1] - self.ylim[0])
        layer = (level[:, None, None] >= tops[None, :, :]).sum(axis=1)  # (rows, columns): first layer above
        drawn = inside[None, :] & (layer < counts.shape[0]) & (level[:, None] >= 0)
        palette = np.asarray([to_bytes(c) for c in colours], dtype=np.float32)
        area[drawn] = palette[layer[drawn]]

    def scatter(self, x: np.ndarray, y: np.ndarray, colour: Colour, alpha: float) -> None:
        """One-pixel points, each blended with ``alpha`` over what is there (n points on one pixel:
        the colour with 1 - (1 - alpha)ⁿ)."""
        columns = np.floor(self.x_pixels(x)).astype(np.intp) - self.box.left
        rows = np.floor(self.y_pixels(y)).astype(np.intp) - self.box.top
        keep = (columns >= 0) & (columns < self.box.width) & (rows >= 0) & (rows < self.box.height)
        hits = np.bincount(rows[keep] * self.box.width + columns[keep], minlength=self.box.width * self.box.height)
        cover = 1.0 - (1.0 - alpha) ** hits.reshape(self.box.height, self.box.width).astype(np.float32)
        area = self.area
        area += cover[:, :, None] * (np.asarray(to_bytes(colour), dtype=np.float32) - area)

    def frame(self, title: str | None = None, xlabel: str | None = None, ylabel: str | None = None,
              tick_size: int = 8, label_size: int = 9) -> None:
        """Frame, ticks with labels, axis labels and title (the y label above the frame, left-aligned)."""
        canvas, box = self.canvas, self.box
        canvas.line([(box.left, box.top), (box.right, box.top), (box.right, box.bottom), (box.left, box.bottom),
                     (box.left, box.top)])
        xticks = nice_ticks(*self.xlim)
        for value, column in zip(xticks, self.x_pixels(np.asarray(xticks))):
            canvas.line([(column, box.bottom), (column, box.bottom + TICK_LENGTH)])
            canvas.text((column, box.bottom + TICK_LENGTH + 2), tick_label(value, xticks), tick_size, "mt")
        yticks = nice_ticks(*self.ylim)
        for value, row in zip(yticks, self.y_pixels(np.asarray(yticks))):
            canvas.line([(box.left - TICK_LENGTH, row), (box.left, row)])
            canvas.text((box.left - TICK_LENGTH - 2, row), tick_label(value, yticks), tick_size, "rm")
        if title:
            canvas.text(((box.left + box.right) / 2, box.top - 4), title, label_size, "mb")
        if xlabel:
            canvas.text(((box.left + box.right) / 2, box.bottom + TICK_LENGTH + tick_size + 6), xlabel, label_size, "mt")
        if ylabel:  # above the frame's top left corner: a long name never runs into the panel on the left
            canvas.text((box.left, box.top - 4), ylabel, label_size, "lb")

    def legend(self, names: Sequence[str], colours: Sequence[Colour], size: int = 8) -> None:
        """Colour patches and names in the upper right corner."""
        canvas, box = self.canvas, self.box
        longest = max(len(name) for name in names)
        width, step = int(longest * size * 0.62) + 24, size + 4
        frame = Box(box.right - width - 6, box.top + 6, box.right - 6, box.top + 10 + step * len(names))
        canvas.rectangle(frame, (1, 1, 1), (0.8, 0.8, 0.8))
        for index, (name, colour) in enumerate(zip(names, colours)):
            top = frame.top + 4 + index * step
            canvas.rectangle(Box(frame.left + 5, top + 1, frame.left + 17, top + step - 3), colour)
            canvas.text((frame.left + 21, top + step / 2 - 1), name, size, "lm")
