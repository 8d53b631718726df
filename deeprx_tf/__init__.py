"""deeprx-tf: a TensorFlow DeepRx receiver for Sionna 5G NR PUSCH links.

The learned receiver (`DeepRxConfig`, `build_deeprx`, `DeepRxReceiver`),
its training data and training loop (with pruning, quantization-aware
training and privileged training signals), checkpoints, TFLite / Edge TPU
export and the `TFLiteReceiver` that runs an exported file. The ``deeprx``
command line is `deeprx_cli`, above this package. The public names below
are imported on first use, so that ``deeprx --help`` does not wait for
TensorFlow.
"""

import link_sim.tfenv  # noqa: F401  (must precede TensorFlow)
from link_sim.lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "DeepRxConfig": "deeprx_tf.config",
    "build_deeprx": "deeprx_tf.model",
    "GridLayout": "deeprx_tf.features",
    "DeepRxReceiver": "deeprx_tf.receiver",
    "LinkBatchMaker": "deeprx_tf.dataset",
    "training_dataset": "deeprx_tf.dataset",
    "validation_sets": "deeprx_tf.dataset",
    "TrainConfig": "deeprx_tf.train_config",
    "train_deeprx": "deeprx_tf.training",
    "masked_bce": "deeprx_tf.losses",
    "MaskedBitErrorRate": "deeprx_tf.losses",
    "Checkpoint": "deeprx_tf.checkpoint",
    "load_checkpoint": "deeprx_tf.checkpoint",
    "save_checkpoint": "deeprx_tf.checkpoint",
    "shipped_checkpoint": "deeprx_tf.shipped",
    "export_deeprx": "deeprx_tf.export",
    "TFLiteModel": "deeprx_tf.litert",
    "TFLiteReceiver": "deeprx_tf.litert",
    "fold_batch_norms": "deeprx_tf.fold",
    "undilate": "deeprx_tf.edgetpu",
    "op_report": "deeprx_tf.edgetpu",
    "PruningSchedule": "deeprx_tf.pruning",
    "quantize_for_training": "deeprx_tf.qat",
}

__all__ = ["__version__", *_EXPORTS]

__getattr__ = lazy_exports(__name__, _EXPORTS)
