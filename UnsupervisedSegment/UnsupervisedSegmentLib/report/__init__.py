"""Layer 5: what a run writes: label and segmentation files, statistics, the diagnostic report and
pictures, review thumbnails, and evaluation metrics against a reference."""
