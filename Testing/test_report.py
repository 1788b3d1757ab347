"""The diagnostic report (report.png) and the raster canvas it is drawn on."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_phantom
from PIL import Image
from UnsupervisedSegmentLib.core.options import SegmentationOptions
from UnsupervisedSegmentLib.core.volume import Channel, Grid
from UnsupervisedSegmentLib.pipeline.segmentation import segment_channels
from UnsupervisedSegmentLib.report.diagnostics import PANEL, save_report
from UnsupervisedSegmentLib.report.raster import (
    Axes,
    Box,
    Canvas,
    grid_boxes,
    nice_ticks,
    tick_label,
    to_bytes,
)


@pytest.mark.parametrize("low, high, expected", [
    (0, 750, [0, 200, 400, 600]),
    (-0.3, 1.3, [0, 0.5, 1.0]),
    (0, 2.2, [0, 1, 2]),
    (1040, 1044, [1040, 1041, 1042, 1043, 1044]),
])
def test_ticks_are_round_numbers_inside_the_range(low, high, expected):
    assert nice_ticks(low, high) == pytest.approx(expected)


def test_tick_labels_have_the_decimals_the_step_needs():
    assert [tick_label(v, [0, 250, 500]) for v in (0, 250, 500)] == ["0", "250", "500"]
    assert [tick_label(v, [0, 0.25, 0.5]) for v in (0, 0.25)] == ["0.00", "0.25"]
    assert tick_label(1.5, [1.0, 1.5]) == "1.5"


def test_grid_cells_follow_the_margins_and_gaps():
    boxes = grid_boxes(1000, 500, 2, 4, (0.05, 0.95, 0.1, 0.9), 0.25, 0.25)
    assert boxes[0][0].left == 50 and boxes[0][-1].right == 950
    assert boxes[0][0].top == 50 and boxes[-1][0].bottom == 450
    assert boxes[0][1].left - boxes[0][0].right == pytest.approx(0.25 * boxes[0][0].width, abs=1)


def test_stacked_steps_paint_each_layer_at_its_height():
    canvas = Canvas(120, 120)
    axes = Axes(canvas, Box(10, 10, 110, 110), (0.0, 2.0), (0.0, 10.0))
    counts = np.array([[2.0, 4.0], [3.0, 1.0]])  # two layers over two bins
    axes.stacked_steps(np.array([0.0, 1.0, 2.0]), counts, [(1, 0, 0), (0, 0, 1)])
    pixels = canvas.pixels
    assert tuple(pixels[105, 30]) == to_bytes((1, 0, 0))  # bin 0, height 1 of 2: first layer
    assert tuple(pixels[80, 30]) == to_bytes((0, 0, 1))  # bin 0, height 3 of 2 + 3: second layer
    assert tuple(pixels[40, 30]) == (255, 255, 255)  # above the stack
    assert tuple(pixels[70, 80]) == to_bytes((1, 0, 0))  # bin 1, height 4 of 4: first layer


def test_scatter_blends_repeated_points():
    canvas = Canvas(50, 50)
    axes = Axes(canvas, Box(0, 0, 50, 50), (0.0, 1.0), (0.0, 1.0))
    axes.scatter(np.array([0.5, 0.5, 0.1]), np.array([0.5, 0.5, 0.9]), (0, 0, 0), 0.4)
    assert canvas.pixels[25, 25, 0] == pytest.approx(255 * 0.6**2)  # two points on one pixel
    assert canvas.pixels[5, 5, 0] == pytest.approx(255 * 0.6)  # one point, near the top left
    image = canvas.finish()
    assert isinstance(image, Image.Image) and image.size == (50, 50)


def test_saved_png_holds_the_finished_pixels(tmp_path):
    canvas = Canvas(64, 48)
    canvas.pixels[:] = np.random.default_rng(0).integers(0, 256, canvas.pixels.shape)
    canvas.save_png(tmp_path / "picture.png")
    with Image.open(tmp_path / "picture.png") as image:
        assert image.format == "PNG" and image.mode == "RGB" and image.size == (64, 48)
        assert np.array_equal(np.asarray(image), np.asarray(canvas.finish()))


def test_report_shows_slices_histograms_and_pair_plots(tmp_path):
    data, truth = make_phantom(shape=(40, 36, 12), n_classes=3, channels=3)
    grid = Grid(truth.shape, np.eye(4))
    result = segment_channels([Channel(f"c{c}", d, grid) for c, d in enumerate(data)], SegmentationOptions(n_clusters=3))
    save_report(result, tmp_path / "report.png")
    image = np.asarray(Image.open(tmp_path / "report.png").convert("RGB"))
    assert image.shape == (3 * PANEL, 4 * PANEL, 3)  # 4 slices, 3 histograms, 3 pairs; 3 rows
    colours = [np.array(to_bytes(segment.color), dtype=float) for segment in result.segments]
    slices, histograms, pairs = (image[row * PANEL:(row + 1) * PANEL].reshape(-1, 3).astype(float) for row in range(3))
    assert len(np.unique(slices, axis=0)) > 50  # grey levels under the overlays
    for colour in colours:
        assert (np.abs(histograms - colour).max(axis=1) == 0).any()  # the stacked bars
        single_point = 255 + 0.4 * (colour - 255)  # one translucent point on white
        assert (np.abs(pairs - single_point).max(axis=1) <= 1).any()
