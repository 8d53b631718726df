"""The one place that prepares TensorFlow's environment for the whole project.

Every package of deeprx-tf imports this module before TensorFlow, so that
``tf.keras``, tensorflow-model-optimization and the TFLite converter all see
the same Keras 2 (``tf_keras``), and TensorFlow's C++ start-up chatter stays
quiet unless the user asked for it.
"""

import contextlib
import os
import sys
import tempfile
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


@contextlib.contextmanager
def native_stderr_silenced():
    """Send the process' stderr (file descriptor 2) nowhere for the block; replay it if the block raises.

    TensorFlow's C++ logs some lines through absl before its log level
    applies (CUDA probing at start-up, a grappler session when a graph is
    frozen); Python's ``sys.stderr`` is the same descriptor, so keep the
    block to the native call that prints.
    """
    fd = 2  # the process' stderr, whatever sys.stderr is (a test's capture, say)
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), fd)
        try:
            yield
        except BaseException:
            os.dup2(saved, fd)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, fd)
            os.close(saved)


def import_tensorflow_quietly() -> None:
    """Import TensorFlow and set up its devices with this process' stderr sent nowhere.

    On a machine without a GPU, TensorFlow's CUDA plugins print a dozen
    lines while loading and at device set-up, before ``TF_CPP_MIN_LOG_LEVEL``
    applies. This silences exactly that start-up (what it printed is
    replayed if it fails) and TensorFlow's Python warnings after it; Python
    ``warnings`` (the package's own) are untouched. Command-line tools call
    it before their work; a library import never does.
    """
    if "tensorflow" in sys.modules:
        return
    with native_stderr_silenced():
        import tensorflow as tf

        tf.config.list_physical_devices()  # device set-up prints here (cuInit)
    tf.get_logger().setLevel("ERROR")
    import absl.logging

    absl.logging.set_verbosity(absl.logging.ERROR)
