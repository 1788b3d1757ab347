"""The names of the files a run writes into its output folder, and a batch into its own: one place
for the writers (``report``, ``mrml.preview``) and the readers (``cohort``) of a folder."""

from __future__ import annotations

#: A run's folder (one per case in a batch).
LABELS_FILE = "labels.nii.gz"
SEGMENTATION_FILE = "segmentation.seg.nrrd"
STATISTICS_FILE = "statistics.csv"
REPORT_FILE = "report.png"
POSTERIORS_FILE = "posteriors.nii.gz"
QUANTISED_FILE = "quantised.nii.gz"
LESION_FILE = "lesion.nii.gz"
PREVIEW_3D_FILE = "preview_3d.png"
PREVIEW_AXIAL_FILE = "preview_axial.png"
#: A comparison of two visits' folder (besides SEGMENTATION_FILE and REPORT_FILE).
CHANGE_FILE = "change.nii.gz"
LESIONS_TABLE = "lesions.csv"
REGISTERED_FOLLOW_UP_FILE = "registered_follow_up.nii.gz"
#: A 2D picture's outputs as pictures.
LABELS_PICTURE = "labels.png"
SEGMENTATION_PICTURE = "segmentation.png"
QUANTISED_PICTURE = "quantised.png"
#: A case's review thumbnail and its record for the review page.
THUMBNAIL_FILE = "thumbnail.png"
REVIEW_FILE = "review.json"
#: A batch's folder.
SUMMARY_FILE = "summary.csv"
CASE_RECORD_FILE = "case.json"
REVIEW_PAGE = "review.html"
#: Every file a run may write into its folder: what a later run into the same folder replaces or removes.
RUN_FILES = frozenset({LABELS_FILE, SEGMENTATION_FILE, STATISTICS_FILE, REPORT_FILE, POSTERIORS_FILE, QUANTISED_FILE,
                       LESION_FILE, PREVIEW_3D_FILE, PREVIEW_AXIAL_FILE, LABELS_PICTURE, SEGMENTATION_PICTURE,
                       QUANTISED_PICTURE, CHANGE_FILE, LESIONS_TABLE, REGISTERED_FOLLOW_UP_FILE, "quantised.jpg", "quantised.jpeg", "quantised.tif", "quantised.tiff", "quantised.bmp"})
