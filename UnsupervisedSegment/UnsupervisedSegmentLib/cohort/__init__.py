"""Layer 6: running cases from files: one run into an output folder, batches from a manifest (local
processes or Dask), and the review page of a batch."""
