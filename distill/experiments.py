"""The paper's four-step KD procedure as one resumable experiment (``deeprx sweep``).

1. ``student_size`` (Fig. 3): students of several widths trained from
   scratch; validation Geometric Mean BER against size.
2. ``teacher_size`` (Fig. 4): the fixed student distilled from teachers of
   several widths (each teacher a scratch run of step 1's kind) and from
   trained teachers given as checkpoints (such as the shipped model).
3. ``alpha`` (Table III) and ``temperature`` (Fig. 5): the student
   distilled from the KD teacher (step 2's best, the paper's rule, or the
   plan's ``kd_teacher``) over an alpha grid (for each KD reduction asked
   for: the KD term averaged over a slot's REs and bits, or summed, which
   scales the alpha that balances the two terms by the bits per slot), then
   over a T grid at the best alpha and reduction (or the plan's
   ``kd_alpha`` and ``kd_reduction``).
4. ``final`` (Fig. 6): BER vs SINR of the KD student (KD teacher, alpha,
   T) and the same student from scratch, each trained with several seeds,
   the teacher and LS+LMMSE, with 1 and 2 DMRS symbols, all on the same
   Monte Carlo batches: confidence bands, the SINR gain of KD at the
   plan's target BER with its interval and its conclusion against the
   plan's equivalence margin, both declared before the runs
   (`link_sim.confidence`), and Geometric Mean BER; with the plan's
   ``perfect_csi_alpha``, a third student arm distilled from the
   perfect-CSI LMMSE receiver, compared with scratch the same way; and the
   learning curves of every student run (``learning_curves.png``), with
   the slots each KD run needed to reach its scratch twin's final
   validation Geometric Mean BER and each run's training pace.

Every training run is a checkpoint folder under ``out/runs`` named by what
defines it (``scratch_x0.125``, ``kd_x0.125_from_x0.5_a1_T3``); a finished
one is reused, an interrupted one resumes, so a stopped sweep continues
where it was and steps share runs. All runs use the same `TrainConfig`
(data seed, steps, schedule), but for step 4's extra seeds (runs named
``..._seed<k>``): a KD and a scratch student of one seed differ by the
teacher alone. Each step writes ``<step>.json`` and ``<step>.png``.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

from deeprx_tf.checkpoint import read_checkpoint_config
from deeprx_tf.config import DeepRxConfig, link_dimensions
from deeprx_tf.folders import FINISHED, WEIGHTS, read_folder
from deeprx_tf.shipped import resolve_checkpoint
from deeprx_tf.training import TrainConfig, train_deeprx
from distill.plan import STEPS, KDPlan
from distill.procedure import check_teacher, distill_deeprx
from link_sim import LinkConfig
from link_sim.confidence import SeedCurves, common_ber_level, sinr_gain_interval
from link_sim.errors import InputError
from link_sim.results import read_json, write_atomic, write_json

#: Step 4's arm of students distilled from the perfect-CSI receiver (`KDPlan.perfect_csi_alpha`).
PERFECT_CSI_ARM = "perfect-CSI KD student"


def _with_defaults(settings: dict) -> dict:
    """An ``experiment.json`` with the plan and training fields it predates at their defaults
    (a folder pinned before a field existed ran with what its default is)."""
    defaults = {"plan": KDPlan().to_dict(), "train": TrainConfig().to_dict()}
    return {**settings, **{part: {**values, **settings.get(part, {})} for part, values in defaults.items()}}


def _weights_digest(checkpoint: str) -> str:
    """A checkpoint's weights file by content (a shipped model by its name): runs distilled from
    a teacher are another experiment's once its weights change (a new model shipped as ``default``)."""
    return hashlib.sha256((resolve_checkpoint(checkpoint) / WEIGHTS).read_bytes()).hexdigest()[:16]


def _width_name(width: float) -> str:
    return f"x{width:g}"


def _teacher_name(teacher: float | str) -> str:
    """A teacher in run names: its width, or its checkpoint folder's name."""
    return Path(str(resolve_checkpoint(teacher))).name if isinstance(teacher, str) else _width_name(teacher)


class KDExperiment:
    """Runs (and resumes) the KD procedure of `KDPlan` in one folder.

    Parameters
    ----------
    plan : KDPlan
    link_config : LinkConfig
        The scenario every run trains and is evaluated on.
    train_config : TrainConfig
        Shared by every run.
    out_dir : str or Path
    strategy : str, optional
        ``tf.distribute`` strategy of every run (see `train_deeprx`).
    log : callable, optional
        ``log(message)`` for progress.
    base_config : DeepRxConfig, optional
        The architecture whose widths the runs scale (its inputs are every
        run's); the paper's DeepRx if `None`. Its antennas, bits and layers
        are the scenario's.

    Teachers of ``plan.teacher_checkpoints`` are checked before any run
    trains: they exist, fit the scenario and read the runs' inputs.
    """

    def __init__(self, plan: KDPlan, link_config: LinkConfig, train_config: TrainConfig,
                 out_dir: str | Path, strategy: str | None = None, log: Callable[[str], None] = print,
                 base_config: DeepRxConfig | None = None):
        self.plan, self.link_config, self.train_config = plan, link_config, train_config
        self.base_config = dataclasses.replace(base_config or DeepRxConfig(), **link_dimensions(link_config))
        for teacher in plan.teacher_checkpoints:
            check_teacher(read_checkpoint_config(teacher), self.base_config, link_config,
                          name=f"the teacher {teacher}",
                          hint="give the sweep a --model-config with the teacher's inputs")
        self.out = Path(out_dir)
        self.strategy, self.log = strategy, log
        self.out.mkdir(parents=True, exist_ok=True)
        settings = {"plan": plan.to_dict(), "link": link_config.to_dict(), "train": train_config.to_dict(),
                    "architecture": self.base_config.to_dict(),
                    "teachers": {str(t): _weights_digest(t) for t in plan.teacher_checkpoints}}
        saved = self.out / "experiment.json"
        if saved.is_file():
            pinned = _with_defaults(read_json(saved, "experiment"))
            if "teachers" not in pinned:  # pinned before teachers were: nothing to hold them against
                settings.pop("teachers")
            elif pinned["teachers"] != settings["teachers"]:
                raise InputError(f"{saved}: a teacher's weights changed since this experiment's runs "
                                 f"({', '.join(plan.teacher_checkpoints)}); use another --out folder")
            if pinned != settings:
                raise InputError(f"{saved} describes another experiment (plan, scenario, architecture or "
                                 "training options differ); use another --out folder")
        write_json(saved, settings)

    # --------------------------------------------------------------------- runs
    def _config(self, width: float) -> DeepRxConfig:
        return self.base_config.scaled(width)

    def _teacher_folder(self, teacher: float | str) -> Path:
        """A trained teacher's checkpoint: a scratch run of that width, or the given checkpoint as
        given (a shipped model by its name, which the loader resolves and the model card records)."""
        return Path(teacher) if isinstance(teacher, str) else self.scratch(teacher)[0]

    def _teacher_size(self, teacher: float | str) -> float:
        """A teacher's FLOPs per RE relative to the paper's DeepRx."""
        config = read_checkpoint_config(teacher) if isinstance(teacher, str) else self._config(teacher)
        return config.size_vs_paper()

    def _finished(self, folder: Path) -> dict | None:
        state = read_folder(folder)
        return state.card if state.state == FINISHED else None

    def _run_name(self, stem: str, seed: int | None) -> str:
        """Runs of the training options' seed keep the plain name; others end in ``_seed<k>``."""
        return stem if seed is None or seed == self.train_config.seed else f"{stem}_seed{seed}"

    def _train_config(self, seed: int | None):
        return self.train_config if seed is None else dataclasses.replace(self.train_config, seed=seed)

    def scratch(self, width: float, seed: int | None = None) -> tuple[Path, dict]:
        """The checkpoint of a DeepRx of ``width`` trained from scratch (reused if finished),
        with the training options' seed or ``seed``."""
        folder = self.out / "runs" / self._run_name(f"scratch_{_width_name(width)}", seed)
        return folder, self._trained(folder, width, self._train_config(seed))

    def distilled(self, width: float, teacher: float | str, alpha: float,
                  temperature: float, seed: int | None = None,
                  reduction: str | None = None) -> tuple[Path, dict]:
        """The checkpoint of a student of ``width`` distilled from ``teacher`` (the scratch run
        of that width, or a checkpoint) with ``alpha`` and ``temperature`` (reused if finished),
        with the training options' seed or ``seed`` (a scratch teacher is always the options'
        seed's), and the plan's KD reduction or ``reduction`` (a run name ends in ``_sum`` for
        a sum)."""
        teacher_name = _teacher_name(teacher)
        teacher = self._teacher_folder(teacher)
        reduction = reduction or self.plan.kd_reduction
        stem = f"kd_{_width_name(width)}_from_{teacher_name}_a{alpha:g}_T{temperature:g}"
        folder = self.out / "runs" / self._run_name(stem + ("_sum" if reduction == "sum" else ""), seed)
        card = self._finished(folder)
        if card is None:
            self.log(f"training {folder.name}")
            card = distill_deeprx(self._config(width), self.link_config, self._train_config(seed), folder,
                                  teacher=teacher, alpha=alpha, temperature=temperature,
                                  kd_loss=self.plan.kd_loss, kd_reduction=reduction,
                                  strategy=self.strategy, command=f"deeprx sweep (run {folder.name})",
                                  verbose=0)
        return folder, card

    @staticmethod
    def _entry(folder: Path, card: dict, **extra) -> dict:
        return {**extra, "run": folder.name, "size_vs_paper": card["size_vs_paper"],
                "flops_per_slot": card["flops_per_slot"], "val_gmber": card["validation"]["val_gmber"]}

    def perfect_csi_distilled(self, width: float, alpha: float, seed: int | None = None) -> tuple[Path, dict]:
        """The checkpoint of a student of ``width`` distilled from the perfect-CSI LMMSE receiver
        (its soft bits weighted ``alpha`` beside the bits', `TrainConfig.genie_loss_weight`),
        reused if finished, with the training options' seed or ``seed``."""
        folder = self.out / "runs" / self._run_name(f"kd_{_width_name(width)}_from_perfect-csi_a{alpha:g}", seed)
        return folder, self._trained(folder, width,
                                     dataclasses.replace(self._train_config(seed), genie_loss_weight=alpha))

    def _trained(self, folder: Path, width: float, train_config: TrainConfig) -> dict:
        """The card of a DeepRx of ``width`` trained alone with ``train_config`` in ``folder``:
        a finished run's, else the run's once trained (an interrupted one resumes)."""
        card = self._finished(folder)
        if card is None:
            self.log(f"training {folder.name}")
            card = train_deeprx(self._config(width), self.link_config, train_config, folder,
                                strategy=self.strategy, command=f"deeprx sweep (run {folder.name})", verbose=0)
        return card

    # -------------------------------------------------------------------- steps
    def student_size(self) -> dict:
        """Step 1 (Fig. 3): Geometric Mean BER of scratch students against size."""
        rows = [self._entry(*self.scratch(w), width=w) for w in self.plan.student_widths]
        return self._write("student_size", {"rows": rows}, "size_vs_paper", {"from scratch": rows},
                           "model size (x paper DeepRx FLOPs per RE)")

    def teacher_size(self) -> dict:
        """Step 2 (Fig. 4): the fixed student distilled from each teacher size."""
        p = self.plan
        rows = [self._entry(*self.distilled(p.student_width, t, p.alpha, p.temperature),
                            teacher=t, teacher_size_vs_paper=self._teacher_size(t))
                for t in (*p.teacher_widths, *p.teacher_checkpoints)]
        scratch = self._entry(*self.scratch(p.student_width), width=p.student_width)
        best = min(rows, key=lambda r: r["val_gmber"])
        return self._write("teacher_size", {"rows": rows, "scratch_student": scratch,
                                            "best_teacher": best["teacher"]},
                           "teacher_size_vs_paper", {"KD student": rows},
                           "teacher size (x paper DeepRx FLOPs per RE)", hline=("scratch student", scratch))

    def kd_teacher(self) -> float | str:
        """The teacher of steps 3 and 4, a width (a scratch run) or a checkpoint: the plan's
        ``kd_teacher``, else step 2's best."""
        if self.plan.kd_teacher is not None:
            return self.plan.kd_teacher
        return self._result("teacher_size", self.teacher_size)["best_teacher"]

    def alpha(self) -> dict:
        """Step 3a (Table III): the alpha grid at the plan's T, from the KD teacher, once per
        KD reduction of ``alpha_reductions``; the best (alpha, reduction) goes on."""
        p, teacher = self.plan, self.kd_teacher()
        rows = [self._entry(*self.distilled(p.student_width, teacher, a, p.temperature, reduction=r),
                            alpha=a, kd_reduction=r)
                for r in p.alpha_reductions for a in p.alphas]
        best = min(rows, key=lambda r: r["val_gmber"])
        series = {f"T = {p.temperature:g}, KD {r}": [row for row in rows if row["kd_reduction"] == r]
                  for r in p.alpha_reductions}
        return self._write("alpha", {"teacher": teacher, "temperature": p.temperature, "rows": rows,
                                     "best_alpha": best["alpha"], "best_kd_reduction": best["kd_reduction"]},
                           "alpha", series, "alpha", logx=True)

    def kd_alpha(self) -> tuple[float, str]:
        """The alpha of steps 3b and 4 and its KD reduction: the plan's ``kd_alpha`` and
        ``kd_reduction``, else step 3a's best pair."""
        if self.plan.kd_alpha is not None:
            return self.plan.kd_alpha, self.plan.kd_reduction
        result = self._result("alpha", self.alpha)
        return result["best_alpha"], result.get("best_kd_reduction", self.plan.kd_reduction)

    def temperature(self) -> dict:
        """Step 3b (Fig. 5): the T grid at the KD alpha (and its reduction), from the KD teacher."""
        p, teacher = self.plan, self.kd_teacher()
        alpha, reduction = self.kd_alpha()
        rows = [self._entry(*self.distilled(p.student_width, teacher, alpha, t, reduction=reduction),
                            temperature=t)
                for t in p.temperatures]
        best = min(rows, key=lambda r: r["val_gmber"])
        return self._write("temperature", {"teacher": teacher, "alpha": alpha, "kd_reduction": reduction,
                                           "rows": rows, "best_temperature": best["temperature"]},
                           "temperature", {f"alpha = {alpha:g}, KD {reduction}": rows}, "temperature T")

    def final(self) -> dict:
        """Step 4 (Fig. 6): BER vs SINR of the KD and the scratch student over several seeds,
        with confidence bands and the SINR gain with its interval; teacher and LS+LMMSE."""
        from deeprx_tf.checkpoint import load_checkpoint
        from deeprx_tf.receiver import DeepRxReceiver
        from link_sim.plots import plot_ber_intervals

        p, teacher = self.plan, self.kd_teacher()
        alpha, reduction = self.kd_alpha()
        temperature = self._result("temperature", self.temperature)["best_temperature"]
        seeds = [self.train_config.seed + k for k in range(p.final_num_seeds)]
        arms = {"scratch student": [self.scratch(p.student_width, s)[0] for s in seeds],
                "KD student": [self.distilled(p.student_width, teacher, alpha, temperature, s,
                                              reduction)[0] for s in seeds],
                "teacher": [self._teacher_folder(teacher)]}
        if p.perfect_csi_alpha is not None:
            arms[PERFECT_CSI_ARM] = [self.perfect_csi_distilled(p.student_width, p.perfect_csi_alpha, s)[0]
                                     for s in seeds]
        students = {arm: folders for arm, folders in arms.items() if arm != "teacher"}
        receivers = {}
        for arm, folders in arms.items():
            for folder in folders:
                checkpoint = load_checkpoint(folder)
                # the checkpoint: its batch-norm statistics for the link's DMRS count, where it has them
                receivers[f"{arm} | {folder.name}"] = lambda tx, c=checkpoint: DeepRxReceiver(tx, c)
        receivers["LS+LMMSE"] = "lmmse"
        groups = {**{arm: [f"{arm} | {f.name}" for f in folders] for arm, folders in arms.items()},
                  "LS+LMMSE": ["LS+LMMSE"]}
        result = {"teacher": teacher, "alpha": alpha, "kd_reduction": reduction,
                  "temperature": temperature, "seeds": seeds,
                  "runs": {arm: [f.name for f in folders] for arm, folders in arms.items()},
                  **_paired_validation(students),
                  "learning_curves": _learning_curves(students, self.out / "learning_curves.png"),
                  "dmrs": {}}
        for dmrs in p.final_dmrs_symbols:
            self.log(f"final comparison with {dmrs} DMRS symbol(s)")
            folder = self.out / f"final_dmrs{dmrs}"
            folder.mkdir(exist_ok=True)
            report = self._comparison(folder, dmrs, receivers)
            curves = {name: SeedCurves.from_sweeps(name, [report["receivers"][r] for r in members])
                      for name, members in groups.items()}
            plot_ber_intervals([c.to_dict() for c in curves.values()], folder / "fig6.png",
                               title=f"{dmrs} DMRS symbol(s)")
            result["dmrs"][str(dmrs)] = {
                "curves": {name: {**c.to_dict(), "geometric_mean_ber": _mean_gmber(report, groups[name])}
                           for name, c in curves.items()},
                **self._kd_gain(curves["scratch student"], curves["KD student"], p.target_ber_for(dmrs))}
            if PERFECT_CSI_ARM in curves:
                result["dmrs"][str(dmrs)]["perfect_csi"] = self._kd_gain(
                    curves["scratch student"], curves[PERFECT_CSI_ARM], p.target_ber_for(dmrs))
        result["target_ber"] = {str(d): p.target_ber_for(d) for d in p.final_dmrs_symbols}
        result["equivalence_margin_db"] = p.equivalence_margin_db
        write_json(self.out / "final.json", result)
        return result

    def _kd_gain(self, scratch: SeedCurves, kd: SeedCurves, target_ber: float) -> dict:
        """The SINR gain of a KD student arm ``kd`` over scratch at ``target_ber``, declared before the runs,
        with its interval and its conclusion against the plan's equivalence margin
        (``kd_gain_over_scratch``; `None` when a student's mean curve does not reach the target).
        Then, and only then, the gain at the lowest BER level both reach is given as
        ``exploratory_gain``: a level chosen after seeing the curves tests nothing."""
        p, seed = self.plan, self.train_config.seed
        entry = {"kd_gain_over_scratch": None, "exploratory_gain": None}
        if common_ber_level([scratch, kd], [target_ber]) is not None:
            entry["kd_gain_over_scratch"] = sinr_gain_interval(scratch, kd, target_ber, seed=seed).to_dict(
                p.equivalence_margin_db)
        else:
            level = common_ber_level([scratch, kd])
            if level is not None:
                entry["exploratory_gain"] = sinr_gain_interval(scratch, kd, level, seed=seed).to_dict()
        return entry

    def _comparison(self, folder: Path, dmrs: int, receivers: dict) -> dict:
        """Step 4's sweep of every model with ``dmrs`` DMRS symbols, as `compare_receivers`
        reports it in ``folder``; a finished one there is reused (the folder's ``experiment.json``
        pins the plan and so the grid, batches and runs), one that stopped part-way is redone."""
        from link_sim.compare import compare_receivers

        saved = folder / "results.json"
        if saved.is_file():
            report = read_json(saved, "comparison")
            if not report.get("interrupted") and set(report.get("receivers", {})) == set(receivers):
                self.log(f"reusing the finished comparison in {saved}")
                return report
        # every model on the same batches at every point: no block-error target, no early stop
        p = self.plan
        return compare_receivers(self.link_config.replace(num_dmrs_symbols=dmrs), receivers,
                                 p.final_sinr_db, batch_size=p.final_batch_size,
                                 max_mc_iter=p.final_max_mc_iter, num_target_block_errors=None,
                                 early_stop=False, target_ber=p.target_ber_for(dmrs),
                                 seed=self.train_config.seed, out_dir=folder)

    def run(self, steps: Sequence[str] = STEPS) -> dict:
        """Run the given steps (each reuses finished runs); returns their results by step."""
        unknown = set(steps) - set(STEPS)
        if unknown:
            raise InputError(f"unknown steps {sorted(unknown)}; choose from {', '.join(STEPS)}")
        return {step: getattr(self, step)() for step in STEPS if step in steps}

    # ---------------------------------------------------------------- outputs
    def _result(self, step: str, compute: Callable[[], dict]) -> dict:
        path = self.out / f"{step}.json"
        return read_json(path, step) if path.is_file() else compute()

    def _write(self, step: str, result: dict, x_key: str, series: dict[str, list[dict]], xlabel: str,
               logx: bool = False, hline: tuple[str, dict] | None = None) -> dict:
        write_json(self.out / f"{step}.json", result)
        _plot_gmber(self.out / f"{step}.png", x_key, series, xlabel, logx, hline)
        return result


def _paired_validation(arms: dict[str, list[Path]]) -> dict:
    """Each student arm's final validation Geometric Mean BER per seed (unseen channel models, from
    the run cards) and, paired by seed, each KD arm's difference from scratch (negative: KD lower)."""
    gmber = {arm: [read_folder(f).card["validation"]["val_gmber"] for f in folders] for arm, folders in arms.items()}
    scratch = gmber["scratch student"]
    return {"validation_gmber": gmber,
            "validation_gmber_minus_scratch": {arm: [a - b for a, b in zip(values, scratch)]
                                               for arm, values in gmber.items() if arm != "scratch student"}}


def _learning_curves(arms: dict[str, list[Path]], path: Path) -> dict:
    """The plan's secondary endpoints of the student arms' training, drawn in ``path``: per seed,
    the slots each KD arm needed to reach its scratch twin's final validation Geometric Mean BER
    (`None`: never; fewer than scratch's: a faster fall), and each run's training pace with the
    CPU it ran on (`deeprx_tf.history.training_pace`)."""
    from deeprx_tf.history import plot_learning_curves, read_learning_curve, slots_to_reach, training_pace

    curves = {arm: [read_learning_curve(f) for f in folders] for arm, folders in arms.items()}
    plot_learning_curves({f.name: curve for arm, folders in arms.items() for f, curve in zip(folders, curves[arm])},
                         path, title="validation on unseen channel models, every student run (a colour per arm)",
                         groups={arm: [f.name for f in folders] for arm, folders in arms.items()})
    finals = [curve["val_gmber"][-1] for curve in curves["scratch student"]]
    return {"file": path.name,
            "scratch_final_val_gmber": finals,
            "slots_to_reach_scratch_final": {
                arm: [slots_to_reach(curve, level) for curve, level in zip(arm_curves, finals)]
                for arm, arm_curves in curves.items()},
            "training_pace": {arm: [training_pace(f) for f in folders] for arm, folders in arms.items()}}


def _mean_gmber(report: dict, members: list[str]) -> float | None:
    """Mean over a group's runs of their Geometric Mean BER (`None` if one has none)."""
    values = [report["receivers"][name]["geometric_mean_ber"] for name in members]
    return None if None in values else sum(values) / len(values)


def _plot_gmber(path: Path, x_key: str, series: dict[str, list[dict]], xlabel: str, logx: bool,
                hline: tuple[str, dict] | None) -> None:
    """Validation Geometric Mean BER against one swept quantity (lower is better)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4), constrained_layout=True)
    for label, rows in series.items():
        rows = sorted(rows, key=lambda r: r[x_key])
        ax.plot([r[x_key] for r in rows], [r["val_gmber"] for r in rows], marker="o", label=label)
    if hline is not None:
        ax.axhline(hline[1]["val_gmber"], linestyle="--", color="gray", label=hline[0])
    if logx:
        ax.set_xscale("symlog", linthresh=0.1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("validation Geometric Mean BER (log10)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
