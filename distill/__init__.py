"""Knowledge distillation of small DeepRx students from larger teachers."""

import link_sim.tfenv  # noqa: F401  (must precede TensorFlow)
