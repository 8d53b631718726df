"""deeprx-tf: a TensorFlow DeepRx receiver for Sionna 5G NR PUSCH links.

The learned receiver, its checkpoints and export, and the ``deeprx``
command line. TensorFlow is imported lazily by the submodules that need it,
so ``deeprx --help`` stays fast.
"""

import link_sim.tfenv  # noqa: F401  (must precede TensorFlow)

__version__ = "0.1.0"
