"""Layer 4: one segmentation of channels in memory (mask, features, clustering, MRF, lesion, statistics),
shared by the command line and the Slicer module."""
