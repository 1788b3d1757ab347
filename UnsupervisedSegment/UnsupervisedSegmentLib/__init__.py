"""UnsupervisedSegment's library: masked multi-modal GMM / k-means segmentation of medical images.

Subpackages by layer, lowest first; a module imports only from its own layer or lower ones
(Testing/test_architecture.py checks it):

0. ``core``      options, errors, channel roles, palette, volumes and grids, output file names, thread pool
1. ``io``        image and segmentation files, DICOM, loading inputs onto one grid
1. ``engine``    fast GMM / k-means, features, masks, pre-processing, MRF, statistics, morphology
2. ``tissue``    brain tissue classes (CSF, grey matter, white matter) with partial volume
3. ``lesion``    automatic lesion finding
4. ``pipeline``  one segmentation of channels in memory (:func:`pipeline.segmentation.segment_channels`)
4. ``change``    two visits compared: registration, lesion change (:func:`change.visits.compare_visits`)
5. ``mrml``      Slicer's MRML side (Qt-free), headless scene, previews, the module's parameters
6. ``report``    output files, diagnostic report, pictures, metrics
7. ``cohort``    one run from files, batches, the review page
8. ``cli``       the command line

``io`` and ``engine`` share a rank and do not import each other, as do ``pipeline`` and ``change``. The
Slicer module reaches ``core``, ``engine``, ``tissue``, ``lesion``, ``pipeline``, ``change`` and ``mrml``:
they import only each other and, at module scope, nothing outside numpy, scipy, SimpleITK and vtk (what
Slicer bundles).
"""

__version__ = "0.1.0"
