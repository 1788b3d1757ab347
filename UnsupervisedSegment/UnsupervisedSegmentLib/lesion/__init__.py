"""Layer 2: automatic lesion finding (tumour, MS, stroke) on the input channels. Imports ``core`` and
``engine``."""
