"""UnsupervisedSegment engine: masked multi-modal GMM/KMeans segmentation of medical images.

Plain Python (numpy, scikit-learn, SimpleITK, nibabel); no Slicer or Qt import, so it runs
and is tested anywhere. The Slicer module and the command line are thin layers over
:func:`UnsupervisedSegmentLib.pipeline.segment_channels`.
"""

__version__ = "0.1.0"
