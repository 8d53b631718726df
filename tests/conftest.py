import link_sim  # noqa: F401  (first: its package prepares TensorFlow's environment)

import pytest

from link_sim import LinkConfig


@pytest.fixture(scope="session")
def tiny_config():
    """1 PRB, 1x2 SIMO, 256-QAM, TDL-C with little mobility: a fast, realistic link."""
    return LinkConfig(num_prb=1, channel_model="TDL-C", speed_mps=(0.0, 3.0),
                      delay_spread_ns=(30.0, 100.0))
