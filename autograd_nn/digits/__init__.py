"""The tutorial's application: the digits data, the 64-25-10 (or 400-25-10) sigmoid network, its
hand-derived backprop, training runs and the ``autograd-nn`` command line."""
