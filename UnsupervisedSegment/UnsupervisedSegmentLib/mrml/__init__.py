"""Layer 4: Slicer's MRML side, Qt-free: the logic that turns volume nodes into a segmentation node and
a table, a headless scene over the slicer-core wheel, offscreen previews, and (inside Slicer) the
module's parameter node and input checks. The only layer that imports ``slicer`` and ``vtk``."""
