"""The one place that prepares TensorFlow's environment for the whole project.

Every package of deeprx-tf imports this module before TensorFlow, so that
``tf.keras``, tensorflow-model-optimization and the TFLite converter all see
the same Keras 2 (``tf_keras``), and TensorFlow's C++ start-up chatter stays
quiet unless the user asked for it.
"""

import os
import sys
import warnings

if os.environ.get("TF_USE_LEGACY_KERAS") != "1" and "tensorflow" in sys.modules:
    warnings.warn(
        "TensorFlow was imported before deeprx-tf without TF_USE_LEGACY_KERAS=1; "
        "import link_sim or deeprx_tf first so that tf.keras is tf_keras (Keras 2).",
        RuntimeWarning,
        stacklevel=2,
    )
os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
