"""Layer 1: image files in and out (NIfTI, NRRD, MHA, DICOM series, pictures), Slicer .seg.nrrd files, and
loading a run's inputs onto one grid. Imports only ``core``."""
