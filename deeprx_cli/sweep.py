"""``deeprx sweep``: the paper's four-step knowledge-distillation procedure, resumable."""

from __future__ import annotations

from pathlib import Path

import click

from deeprx_cli.common import (FiniteFloatRange, format_list, parse_list, scenario_from_options,
                                  split_scenario, uses_tensorflow)
from deeprx_cli.train_options import train_config_from_options, training_options
from distill.plan import KD_LOSS_NAMES, KD_REDUCTIONS, STEPS, KDPlan

_PLAN = KDPlan()


@click.command()
@click.option("--student-widths", default=format_list(_PLAN.student_widths), show_default=True,
              help="Step student_size (Fig. 3): widths trained from scratch, as multipliers of the "
                   "filter counts of --model-config (of the paper model by default).")
@click.option("--student-width", type=FiniteFloatRange(min=0, min_open=True), default=_PLAN.student_width,
              show_default=True, help="The student of the later steps.")
@click.option("--teacher-widths",
              help=f"Step teacher_size (Fig. 4): teacher widths trained from scratch (default: "
                   f"{format_list(_PLAN.teacher_widths)}, or none with --teacher).")
@click.option("--teacher", "teachers", multiple=True,
              help="Step teacher_size: a trained teacher (checkpoint folder or shipped model name such as "
                   "'default'; repeat).")
@click.option("--kd-teacher",
              help="The teacher of the alpha, temperature and final steps: one of --teacher-widths or "
                   "--teacher (default: the one whose student validated best in teacher_size).")
@click.option("--model-config", "model_config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Architecture JSON whose widths the runs scale (default: the paper's DeepRx); its "
                   "inputs are every run's (a --teacher's must match).")
@click.option("--alphas", default=format_list(_PLAN.alphas), show_default=True,
              help="Step alpha (Table III): alpha grid.")
@click.option("--temperatures", default=format_list(_PLAN.temperatures), show_default=True,
              help="Step temperature (Fig. 5): T grid, at the best alpha (or --kd-alpha).")
@click.option("--alpha", type=FiniteFloatRange(min=0), default=_PLAN.alpha, show_default=True,
              help="alpha of the teacher_size step.")
@click.option("--kd-alpha", type=FiniteFloatRange(min=0),
              help="alpha of the temperature and final steps, with --kd-reduction (default: the best "
                   "alpha and reduction of the alpha step).")
@click.option("--temperature", type=FiniteFloatRange(min=0, min_open=True), default=_PLAN.temperature,
              show_default=True, help="T of the teacher_size and alpha steps.")
@click.option("--kd-loss", type=click.Choice(KD_LOSS_NAMES), default=_PLAN.kd_loss, show_default=True,
              help="Distillation loss of every KD run (see deeprx distill --help).")
@click.option("--kd-reduction", type=click.Choice(KD_REDUCTIONS), default=_PLAN.kd_reduction,
              show_default=True, help="The KD loss per slot: mean or sum over its data REs and bits.")
@click.option("--alpha-reductions", help="Step alpha (Table III): run the alpha grid with each of these KD "
                                          "reductions, e.g. 'mean,sum' (default: --kd-reduction).")
@click.option("--sinr", "sinr_grid", default=format_list(_PLAN.final_sinr_db), show_default=True,
              help="Step final (Fig. 6): SINR grid [dB], START:STOP:STEP or A,B,C.")
@click.option("--final-dmrs", default=format_list(_PLAN.final_dmrs_symbols), show_default=True,
              help="Step final: DMRS symbol counts.")
@click.option("--final-seeds", type=click.IntRange(min=1), default=_PLAN.final_num_seeds, show_default=True,
              help="Step final: training seeds per student arm (--seed and the next ones).")
@click.option("--final-batch-size", type=click.IntRange(min=1), default=_PLAN.final_batch_size,
              show_default=True)
@click.option("--final-max-mc-iter", type=click.IntRange(min=1), default=_PLAN.final_max_mc_iter,
              show_default=True, help="Step final: batches per SINR point, the same for every model.")
@click.option("--target-ber", default=f"{_PLAN.target_ber:g}", show_default=True,
              help="Step final: BER at which the KD gain is read, or one per --final-dmrs (e.g. 5e-2,1e-2); "
                   "declare it before the runs (a level both students will reach). When one does not, the gain "
                   "at the lowest level both reach is reported as exploratory only.")
@click.option("--equivalence-margin", type=FiniteFloatRange(0, min_open=True), default=_PLAN.equivalence_margin_db,
              show_default=True, help="Step final: equivalence margin [dB], declared before the runs: with no "
                                      "gain shown, KD and scratch are called equivalent if two one-sided tests "
                                      "rule out a difference this large.")
@click.option("--perfect-csi-alpha", type=FiniteFloatRange(0, min_open=True),
              help="Step final: add a third student arm distilled from the perfect-CSI LMMSE receiver, its "
                   "soft bits weighted this much beside the bits' (default: no such arm).")
@click.option("--step", "only_steps", multiple=True, type=click.Choice(STEPS),
              help="Run only these steps (repeat; default: all, in order).")
@training_options
@uses_tensorflow
def sweep(student_widths, student_width, teacher_widths, teachers, kd_teacher, model_config_path, alphas, temperatures,
          alpha, kd_alpha, temperature, kd_loss, kd_reduction, alpha_reductions, sinr_grid, final_dmrs, final_seeds,
          final_batch_size, final_max_mc_iter, target_ber, equivalence_margin, perfect_csi_alpha, only_steps,
          **options):
    """The paper's four-step KD procedure: student size, teacher size, alpha and T, final BER.

    Every run is a checkpoint under --out/runs, trained with the same
    options (so KD and scratch students differ by the teacher alone) and
    reused when finished: run the same command again to resume. Each step
    writes STEP.json and STEP.png into --out; the final step also
    final_dmrsN/ (results.json, ber.png, ber.csv, and fig6.png with
    confidence bands over the seeds and Monte Carlo batches).
    """
    from link_sim.sweep import parse_sinr_grid

    scenario_opts, training = split_scenario(options)
    scenario = scenario_from_options(**scenario_opts)
    strategy, out_dir = training.pop("strategy"), training.pop("out_dir")
    if training.pop("overwrite"):
        raise click.UsageError("deeprx sweep reuses finished runs and resumes; to start anew, "
                               "choose another --out folder")
    train_config = train_config_from_options(**training)
    from distill.experiments import KDExperiment, KDPlan

    teacher_widths = (parse_list(teacher_widths, "--teacher-widths") if teacher_widths
                      else () if teachers else _PLAN.teacher_widths)
    if kd_teacher is not None and kd_teacher not in teachers:
        # not a --teacher, so a width of --teacher-widths (KDPlan checks that it is one)
        try:
            kd_teacher = float(kd_teacher)
        except ValueError:
            raise click.BadParameter(f"{kd_teacher!r} is neither a --teacher nor a width of --teacher-widths",
                                     param_hint="--kd-teacher") from None
    plan = KDPlan(student_widths=parse_list(student_widths, "--student-widths"),
                  student_width=student_width, teacher_widths=teacher_widths,
                  teacher_checkpoints=tuple(str(t) for t in teachers), kd_teacher=kd_teacher,
                  alphas=parse_list(alphas, "--alphas"),
                  temperatures=parse_list(temperatures, "--temperatures"),
                  alpha=alpha, kd_alpha=kd_alpha, temperature=temperature, kd_loss=kd_loss,
                  kd_reduction=kd_reduction,
                  alpha_reductions=parse_list(alpha_reductions, "--alpha-reductions", str.strip)
                  if alpha_reductions else (),
                  final_sinr_db=tuple(parse_sinr_grid(sinr_grid)),
                  final_dmrs_symbols=parse_list(final_dmrs, "--final-dmrs", int),
                  final_num_seeds=final_seeds, final_batch_size=final_batch_size,
                  final_max_mc_iter=final_max_mc_iter, target_ber=_one_or_each(parse_list(target_ber, "--target-ber")),
                  equivalence_margin_db=equivalence_margin, perfect_csi_alpha=perfect_csi_alpha)
    base_config = None
    if model_config_path is not None:
        from deeprx_tf.config import DeepRxConfig, link_dimensions

        base_config = DeepRxConfig.from_json(model_config_path, defaults=link_dimensions(scenario))
    experiment = KDExperiment(plan, scenario, train_config, out_dir, strategy=strategy,
                              log=lambda message: click.echo(message, err=True), base_config=base_config)
    results = experiment.run(only_steps or STEPS)
    for step, result in results.items():
        if step == "final":
            for dmrs, entry in result["dmrs"].items():
                line = ", ".join(f"{name} {c['geometric_mean_ber']:.3f}" for name, c in entry["curves"].items()
                                 if c["geometric_mean_ber"] is not None)
                click.echo(f"final, {dmrs} DMRS: Geometric Mean BER {line}; KD gain {_describe_gain(entry)}")
                if "perfect_csi" in entry:
                    click.echo(f"final, {dmrs} DMRS: perfect-CSI KD gain {_describe_gain(entry['perfect_csi'])}")
        else:
            best = min(result["rows"], key=lambda r: r["val_gmber"])
            click.echo(f"{step}: best {best['run']} (validation Geometric Mean BER {best['val_gmber']:.3f})")
    click.echo(f"wrote {', '.join(f'{step}.json' for step in results)} into {out_dir}")


def _describe_gain(entry: dict) -> str:
    """The final step's KD gain of one DMRS count, in words."""
    gain, exploratory = entry["kd_gain_over_scratch"], entry.get("exploratory_gain")
    if gain is not None:
        bound = ("" if gain["conclusion"] in ("gain", "loss") else
                 f" (no difference larger than {gain['equivalence_bound_db']:.2f} dB; margin "
                 f"{gain['equivalence_margin_db']:g} dB)")
        return (f"at BER {gain['target_ber']:g}: {gain['gain_db']:.2f} dB ({gain['level']:.0%} interval "
                f"{gain['low_db']:.2f} to {gain['high_db']:.2f} dB): {gain['conclusion']}{bound}")
    if exploratory is not None:
        return (f"not measurable at the target BER (a student does not reach it); exploratory, at BER "
                f"{exploratory['target_ber']:g}: {exploratory['gain_db']:.2f} dB ({exploratory['level']:.0%} "
                f"interval {exploratory['low_db']:.2f} to {exploratory['high_db']:.2f} dB)")
    return "not measurable (the students reach no common BER level)"


def _one_or_each(values: tuple[float, ...]) -> float | tuple[float, ...]:
    """One value for all, or the tuple as given."""
    return values[0] if len(values) == 1 else values
