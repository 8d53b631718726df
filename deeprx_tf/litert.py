"""Run an exported ``.tflite`` DeepRx with LiteRT inside a Sionna link.

`TFLiteModel` wraps ``ai_edge_litert``'s interpreter so that it is called
like the Keras model (``features -> logits``, float32), quantizing inputs
and dequantizing outputs with the file's own parameters; `TFLiteReceiver`
is `DeepRxReceiver` running that file, so the BER a link measures is the
deployed file's, not the Keras model's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow.python.ops import control_flow_util  # XLA context while tracing (as tf.function)

from deeprx_tf.link_fit import LinkShape, check_model_fits
from deeprx_tf.config import DeepRxConfig
from deeprx_tf.formats import sidecar_path
from deeprx_tf.receiver import DeepRxReceiver
from link_sim.errors import InputError, MissingInputError
from link_sim.results import read_json


class TFLiteModel:
    """A static-shape ``.tflite`` DeepRx, callable like its Keras model.

    Parameters
    ----------
    tflite : str, Path or bytes
        The ``.tflite`` file or its content.
    num_threads : int, optional
        CPU threads of the interpreter (LiteRT's default if `None`).

    Attributes
    ----------
    inputs : dict
        The model's optional inputs (`DeepRxConfig.feature_options`), from
        the export's sidecar ``FILE.json`` if there is one; else the
        published DeepRx's.
    num_layers : int or None
        MIMO layers of the exported scenario, from the sidecar (`None`
        without one: the output width alone is checked).

    Notes
    -----
    The file takes one slot at a time (``[1, S, F, C]``); a batch is run
    slot by slot. An int8 input is quantized as ``round(x / scale) +
    zero_point`` clipped to [-128, 127]; an int8 output is dequantized as
    ``(q - zero_point) * scale``.
    """

    def __init__(self, tflite, num_threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        if isinstance(tflite, (bytes, bytearray)):
            self.path = None
            self._interpreter = Interpreter(model_content=bytes(tflite), num_threads=num_threads)
        else:
            self.path = Path(tflite)
            if not self.path.is_file():
                raise MissingInputError(f"TFLite file {self.path} does not exist")
            try:
                self._interpreter = Interpreter(model_path=str(self.path), num_threads=num_threads)
            except ValueError as err:
                raise InputError(f"{self.path} is not a valid .tflite model: "
                                 f"{str(err).splitlines()[0]}") from None
        self.inputs, self.num_layers = DeepRxConfig().feature_options(), None
        sidecar = sidecar_path(self.path) if self.path is not None else None
        if sidecar is not None and sidecar.is_file():
            info = read_json(sidecar, "TFLite sidecar")
            self.inputs = info.get("inputs", self.inputs)
            self.num_layers = info.get("link", {}).get("num_layers", 1)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        for detail, what in ((self._input, "input"), (self._output, "output")):
            if len(detail["shape"]) != 4 or detail["shape"][0] != 1:
                raise InputError(f"the TFLite model's {what} is {list(detail['shape'])}; a DeepRx "
                                 "export has [1, symbols, subcarriers, channels]")

    @property
    def input_shape(self) -> tuple:
        """``(None, S, F, C)``, like a Keras model's."""
        return (None, *(int(d) for d in self._input["shape"][1:]))

    @property
    def output_shape(self) -> tuple:
        """``(None, S, F, num_layers * num_bits_per_symbol)``."""
        return (None, *(int(d) for d in self._output["shape"][1:]))

    @property
    def input_dtype(self) -> np.dtype:
        """Type of the file's input tensor (float32 or int8)."""
        return np.dtype(self._input["dtype"])

    def check_fits(self, link: LinkShape) -> None:
        """Raise `InputError` unless the file receives the link's slots
        (`deeprx_tf.link_fit.check_model_fits`: bits, layers, antennas, grid)."""
        _, symbols, subcarriers, channels = self.input_shape
        check_model_fits(str(self.path or "the TFLite model"), link,
                         num_outputs=self.output_shape[-1], num_layers=self.num_layers,
                         inputs=self.inputs,
                         num_input_channels=channels, grid=(symbols, subcarriers))

    def check_fits_scenario(self, link_config) -> None:
        """`check_fits` for a `link_sim.LinkConfig` scenario."""
        self.check_fits(LinkShape.of_link_config(link_config))

    def _quantize(self, features: np.ndarray) -> np.ndarray:
        dtype = self.input_dtype
        if dtype == np.float32:
            return features.astype(np.float32)
        scale, zero_point = self._input["quantization"]
        info = np.iinfo(dtype)
        return np.clip(np.round(features / scale) + zero_point, info.min, info.max).astype(dtype)

    def _dequantize(self, output: np.ndarray) -> np.ndarray:
        if output.dtype == np.float32:
            return output
        scale, zero_point = self._output["quantization"]
        return ((output.astype(np.float32) - zero_point) * scale).astype(np.float32)

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Logits of a batch.

        Parameters
        ----------
        features : [batch, S, F, C], float32

        Returns
        -------
        [batch, S, F, num_layers * num_bits_per_symbol], float32
        """
        features = np.asarray(features, np.float32)
        if features.shape[1:] != self.input_shape[1:]:
            raise InputError(f"features {list(features.shape[1:])} do not fit the TFLite model's "
                             f"input {list(self.input_shape[1:])} (it was exported for one grid)")
        quantized = self._quantize(features)
        logits = np.empty((len(features), *self.output_shape[1:]), np.float32)
        for i in range(len(features)):
            self._interpreter.set_tensor(self._input["index"], quantized[i:i + 1])
            self._interpreter.invoke()
            logits[i] = self._dequantize(self._interpreter.get_tensor(self._output["index"]))[0]
        return logits

    def __call__(self, features, training: bool = False):
        """`predict` as a TensorFlow op (eager or inside a `tf.function`)."""
        del training  # inference only
        if control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()):
            raise InputError("a TFLite model runs in LiteRT, outside TensorFlow's graph, so it cannot "
                             "be compiled with XLA (jit_compile=True): run the link in graph or eager mode")
        logits = tf.numpy_function(self.predict, [features], tf.float32, stateful=True)
        return tf.ensure_shape(logits, self.output_shape)


class TFLiteReceiver(DeepRxReceiver):
    r"""An exported ``.tflite`` DeepRx in place of `PUSCHReceiver`.

    `DeepRxReceiver` with the network run by LiteRT from the deployed file
    (`TFLiteModel`): same features, same LLR layout, same decoder, same
    call contract (``rx(y, no) -> b_hat``, `compute_llr`).

    Parameters
    ----------
    pusch_transmitter : sionna.phy.nr.PUSCHTransmitter
        The link's transmitter; its grid must be the one the file was
        exported for.
    tflite : str, Path, bytes or TFLiteModel
        The exported file (`deeprx_tf.export`).
    return_tb_crc_status : bool
        Also return the transport block CRC status.
    num_threads : int, optional
        Interpreter threads.

    Input
    -----
    y : [batch_size, 1, num_rx_ant, num_ofdm_symbols, fft_size], tf.complex64
    no : scalar or [batch_size], tf.float32
        Noise variance; used only by a model exported with the noise or equalized input.

    Output
    ------
    b_hat : [batch_size, 1, tb_size], tf.float32
    tb_crc_status : [batch_size, 1], tf.bool
        Only with ``return_tb_crc_status=True``.
    """

    def __init__(self, pusch_transmitter, tflite, return_tb_crc_status: bool = False,
                 num_threads: int | None = None, precision=None, **kwargs):
        model = tflite if isinstance(tflite, TFLiteModel) else TFLiteModel(tflite, num_threads)
        super().__init__(pusch_transmitter, model, return_tb_crc_status=return_tb_crc_status,
                         config=DeepRxConfig(**model.inputs), precision=precision, **kwargs)

    def _fit_check(self, model, config):
        return model.check_fits  # the file's grid and the layers of its sidecar
