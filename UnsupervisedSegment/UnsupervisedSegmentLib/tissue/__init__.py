"""Layer 2: brain tissue classes (CSF, grey matter, white matter) with partial volume, bias field and the
MRF prior. Imports ``core`` and ``engine``."""
