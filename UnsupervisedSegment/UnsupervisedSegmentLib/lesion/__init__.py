"""Layer 3: automatic lesion finding (tumour, MS, stroke) on the input channels. Imports ``core``,
``engine`` and ``tissue``."""
