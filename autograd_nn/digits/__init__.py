"""The tutorial's application: the digits data, the 64-25-10 (or 400-25-10) sigmoid network, its
hand-derived backprop, the library's training loop with that network as its default model (train.py)
and the ``autograd-nn`` command line."""
