"""Layer 6: what a run writes: label and segmentation files, statistics, the diagnostic report and
pictures, a comparison's files and report, review thumbnails, and evaluation metrics against a reference."""
