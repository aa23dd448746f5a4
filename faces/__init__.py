"""The face pipeline: decode → detect → align (→ embed). The only code that touches pixels."""

import os

# PyTorch's oneDNN convolutions keep each compiled kernel (one per input shape) in two caches
# of 1,024 by default. Photos of many sizes (a pyramid of 13 levels each, the gated parts of
# large photos) fill them: 50–70 MB more in an album worker over 100 phone photos
# (docs/settings.md). At 64, kernels that other shapes pushed out are compiled again: an
# album of LFW photos takes about 12 % longer. LRU_CACHE_CAPACITY is read when torch loads, so
# it is set here, before any of this package imports torch; a value set in the environment is
# kept.
for _cache in ("LRU_CACHE_CAPACITY", "ONEDNN_PRIMITIVE_CACHE_CAPACITY"):
    os.environ.setdefault(_cache, "64")
