"""FLOPs, per-processor energy estimates and measured energy of DeepRx models."""

import link_sim.tfenv  # noqa: F401  (must precede TensorFlow)
