"""The digits data's loading, checks and split live in ``autograd_nn.datasets.tables`` (below this
package, so ``datasets.load_digits`` can use them); this name stays for the code that imports it."""

import sys

from ..datasets import tables

sys.modules[__name__] = tables  # the same module under both names, so patching one patches the other
