"""Layer 0, the base every other layer may use: options and their checks, errors, segment names and
colours, volumes and grids, output file names, lazy imports and one plain thread pool. numpy and the
standard library only (SimpleITK imported on first use)."""
