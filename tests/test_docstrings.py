"""The Example sections of the public API's docstrings run as written."""

import doctest
import importlib

import pytest

MODULES = ["deeprx_tf.model", "deeprx_tf.layers", "deeprx_tf.optimizers", "deeprx_tf.receiver",
           "deeprx_tf.export", "link_sim.simulator", "link_sim.confidence", "profiling.flops", "distill.distiller"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             extraglobs={"tf": importlib.import_module("tensorflow")})
    assert result.attempted > 0, f"{name} has no example"
    assert result.failed == 0
