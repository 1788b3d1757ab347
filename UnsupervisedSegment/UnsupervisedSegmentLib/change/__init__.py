"""Layer 4 (beside ``pipeline``): two visits of one patient compared. The follow-up is registered onto the
baseline, both are brought to one intensity scale, and the lesion voxels that appeared, grew, shrank or
resolved are found. Imports ``core``, ``engine`` and ``lesion`` (not ``io``: the Slicer module reaches this layer)."""
