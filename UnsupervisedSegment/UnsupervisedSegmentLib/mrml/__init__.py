"""Layer 5: Slicer's MRML side, Qt-free: the logic that turns volume nodes into a segmentation node and a
table (and two visits' volume nodes into a change segmentation, a lesion table and the registered
follow-up), a headless scene over the slicer-core wheel, offscreen previews, and (inside Slicer) the
module's parameter node and input checks. The only layer that imports ``slicer`` and ``vtk``."""
