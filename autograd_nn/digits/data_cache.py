"""The cache of parsed data lives in ``autograd_nn.datasets.data_cache``; this name stays for the code
that imports it."""

import sys

from ..datasets import data_cache

sys.modules[__name__] = data_cache  # the same module under both names, so patching one patches the other
