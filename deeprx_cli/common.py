"""What the ``deeprx`` commands share: TensorFlow start-up, option parsing, scenario options."""

from __future__ import annotations

import functools
import inspect
import math
from pathlib import Path

import click

from link_sim.montecarlo import DEFAULT_SINR_GRID_DB

#: `DEFAULT_SINR_GRID_DB` as the START:STOP:STEP text ``deeprx simulate --sinr`` takes.
DEFAULT_SINR_GRID = (f"{DEFAULT_SINR_GRID_DB[0]:g}:{DEFAULT_SINR_GRID_DB[-1]:g}:"
                     f"{DEFAULT_SINR_GRID_DB[1] - DEFAULT_SINR_GRID_DB[0]:g}")


class FiniteFloatRange(click.FloatRange):
    """`click.FloatRange` that refuses NaN and infinities (which pass any range comparison)."""

    name = "finite float range"

    def convert(self, value, param, ctx):
        value = super().convert(value, param, ctx)
        if not math.isfinite(value):
            self.fail(f"{value} is not a finite number", param, ctx)
        return value


def uses_tensorflow(command):
    """Decorate a command that runs TensorFlow: it starts quietly unless ``deeprx --verbose``.

    TensorFlow loads when the command runs, not when ``--help`` is asked for.
    """
    @functools.wraps(command)
    def run(*args, **kwargs):
        if not click.get_current_context().find_root().params.get("verbose"):
            from link_sim.tfenv import import_tensorflow_quietly

            import_tensorflow_quietly()
        return command(*args, **kwargs)

    return run


def parse_range(text: str | None, option: str) -> tuple[float, float] | None:
    """``"a,b"`` (or a single ``"a"``) to ``(a, b)``."""
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a number or a pair MIN,MAX", param_hint=option) from None
    if len(values) == 1:
        values *= 2
    if len(values) != 2:
        raise click.BadParameter(f"{text!r} must be MIN,MAX", param_hint=option)
    return (values[0], values[1])


def format_list(values) -> str:
    """A tuple of defaults as the comma-separated text its option takes."""
    return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)


def parse_list(text: str, option: str, kind=float) -> tuple:
    """``"a,b,c"`` to a tuple of ``kind``."""
    try:
        values = tuple(kind(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a comma-separated list", param_hint=option) from None
    if not values:
        raise click.BadParameter("the list is empty", param_hint=option)
    return values


_SCENARIO_OPTIONS = [
    click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
                 help="Scenario as LinkConfig JSON; the options below override its fields."),
    click.option("--channel", help="Channel model: CDL-A..E, TDL-A..E, UMi or AWGN."),
    click.option("--num-prb", type=int, help="Bandwidth in PRBs."),
    click.option("--num-rx-ant", type=int, help="Base-station receive antennas."),
    click.option("--num-tx-ant", type=int, help="UE transmit antennas (1, 2 or 4)."),
    click.option("--num-layers", type=int, help="MIMO layers."),
    click.option("--mcs-index", type=int, help="MCS index of the 256-QAM table (20-27)."),
    click.option("--num-dmrs-symbols", type=int, help="DMRS symbols per slot (1 or 2)."),
    click.option("--speed", help="UE speed range MIN,MAX [m/s]."),
    click.option("--delay-spread", help="RMS delay spread range MIN,MAX [ns]."),
    click.option("--sinr-range", help="SINR range MIN,MAX [dB] of training data."),
    click.option("--sir", help="Add a co-channel interferer with this SIR range MIN,MAX [dB]."),
]


def scenario_options(command):
    """The scenario options shared by every command that runs a link."""
    for option in reversed(_SCENARIO_OPTIONS):
        command = option(command)
    return command


def scenario_from_options(config_path, channel, num_prb, num_rx_ant, num_tx_ant, num_layers,
                          mcs_index, num_dmrs_symbols, speed, delay_spread, sinr_range, sir, base=None):
    """The `LinkConfig` of --config (else ``base``, else the default) with the options
    applied; 256-QAM required."""
    from link_sim.config import LinkConfig

    if config_path:
        scenario = LinkConfig.from_json(config_path)
    else:
        scenario = base if base is not None else LinkConfig()
    overrides = {
        "channel_model": channel, "num_prb": num_prb, "num_rx_ant": num_rx_ant,
        "num_tx_ant": num_tx_ant, "num_layers": num_layers, "mcs_index": mcs_index,
        "num_dmrs_symbols": num_dmrs_symbols, "speed_mps": parse_range(speed, "--speed"),
        "delay_spread_ns": parse_range(delay_spread, "--delay-spread"),
        "sinr_db": parse_range(sinr_range, "--sinr-range"),
        "sir_db": parse_range(sir, "--sir"),
    }
    scenario = scenario.replace(**{k: v for k, v in overrides.items() if v is not None})
    scenario.require_256qam()
    return scenario


def split_scenario(options: dict) -> tuple[dict, dict]:
    """A command's options as (the scenario options, the others)."""
    keys = set(inspect.signature(scenario_from_options).parameters) - {"base"}
    return ({k: v for k, v in options.items() if k in keys},
            {k: v for k, v in options.items() if k not in keys})
