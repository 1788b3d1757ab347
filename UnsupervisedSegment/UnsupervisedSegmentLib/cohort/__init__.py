"""Layer 7: running cases from files: one run (or one comparison of two visits) into an output folder,
batches from a manifest (local processes or Dask), and the review page of a batch."""
