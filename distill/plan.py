"""What the paper's KD procedure sweeps (`KDPlan`) and its steps, for `distill.experiments`.

This module imports neither TensorFlow nor Sionna, so the command line
reads its defaults without loading them.
"""

from __future__ import annotations

import dataclasses
import math

from link_sim.errors import InputError
from link_sim.montecarlo import DEFAULT_SINR_GRID_DB, DEFAULTS

#: The paper's best KD weighting and temperature (eq. 2, alpha = 5e5, T = 3): the defaults of
#: `distill.distill_deeprx` and ``deeprx distill``.
PAPER_ALPHA = 5e5
PAPER_TEMPERATURE = 3.0
#: Defaults of the distillation's optional terms: the paper's eq. (2) has neither the T^2 factor
#: of Hinton et al. nor a Sobolev term (`distill.DeepRxDistiller`).
DEFAULT_SCALE_BY_T2, DEFAULT_SOBOLEV_WEIGHT = False, 0.0

#: Distillation losses by name (`distill.losses.KD_LOSSES`): the paper's bit-wise KL of the
#: softened bit probabilities, and logit matching (squared error of clipped logits).
KD_LOSS_NAMES = ("bitwise-kl", "logit-mse")
#: How the distillation loss reduces a slot: the mean over its data REs and bits (like the
#: student's loss) or their sum.
KD_REDUCTIONS = ("mean", "sum")

def check_kd_loss(kd_loss: str, kd_reduction: str) -> None:
    """Raise `InputError` unless ``kd_loss`` and ``kd_reduction`` name a distillation loss."""
    if kd_loss not in KD_LOSS_NAMES or kd_reduction not in KD_REDUCTIONS:
        raise InputError(f"kd_loss must be one of {', '.join(KD_LOSS_NAMES)} and kd_reduction one of "
                         f"{', '.join(KD_REDUCTIONS)}, got {kd_loss!r}, {kd_reduction!r}")


#: The steps of the procedure, in order.
STEPS = ("student_size", "teacher_size", "alpha", "temperature", "final")


@dataclasses.dataclass(frozen=True)
class KDPlan:
    """What the KD procedure sweeps; sizes are width multipliers of the paper's DeepRx.

    Parameters
    ----------
    student_widths : tuple of float
        Step 1: sizes trained from scratch.
    student_width : float
        The student of steps 2-4.
    teacher_widths : tuple of float
        Step 2: teacher sizes trained from scratch (may be empty with
        ``teacher_checkpoints``).
    teacher_checkpoints : tuple of str
        Step 2: trained teachers taken as they are (checkpoint folders or
        shipped model names, e.g. ``"default"``), beside ``teacher_widths``.
    kd_teacher : float or str, optional
        The teacher steps 3 and 4 distil from: one of step 2's teachers (a
        width of ``teacher_widths``, or an entry of ``teacher_checkpoints``).
        `None` (default): the teacher whose student validated best in step 2,
        the paper's rule.
    alphas, temperatures : tuple of float
        Step 3 grids (alpha first, at ``temperature``; then T at the KD alpha).
    kd_alpha : float, optional
        The alpha of steps 3b and 4, with ``kd_reduction``. `None` (default):
        step 3a's best alpha and reduction, the paper's rule.
    alpha, temperature : float
        Step 2's alpha and T.
    kd_loss, kd_reduction : str
        The distillation loss of every KD run (`KD_LOSS_NAMES`, `KD_REDUCTIONS`).
    alpha_reductions : tuple of str
        Step 3a runs its alpha grid with each of these KD reductions (default:
        ``kd_reduction`` alone); steps 3b and 4 use the best one (or ``kd_alpha``).
    final_sinr_db : tuple of float
        Step 4's SINR grid.
    final_dmrs_symbols : tuple of int
        Step 4's pilot counts (the paper: 1 and 2).
    final_num_seeds : int
        Step 4 trains each student arm (KD and scratch) with this many
        seeds: the training options' seed (the runs of steps 1-3) and the
        next ones; the KD and the scratch student of one seed train on the
        same data.
    final_batch_size, final_max_mc_iter : int
        Step 4's Monte Carlo budget per SINR point: every model sees the same
        ``final_max_mc_iter`` batches at every point (no early stop), so
        `link_sim.confidence` can tell seed from Monte Carlo variance.
    target_ber : float or tuple of float
        Where step 4 reads the SINR gain of KD over scratch: one BER, or one
        per ``final_dmrs_symbols`` (in their order; one pilot symbol floors
        higher than two). Declare it before the runs: a BER both students'
        curves reach. When one does not, step 4 gives the gain at the
        lowest of `link_sim.confidence.BER_LEVELS` both reach as
        exploratory only.
    equivalence_margin_db : float
        Step 4's equivalence margin [dB], declared before the runs: when
        no gain is shown, the students are called equivalent if two
        one-sided tests rule out a gain or loss of this size
        (`link_sim.confidence.GainEstimate.conclusion`).
    """

    student_widths: tuple[float, ...] = (0.0625, 0.125, 0.25)
    student_width: float = 0.125
    teacher_widths: tuple[float, ...] = (0.25, 0.5)
    teacher_checkpoints: tuple[str, ...] = ()
    kd_teacher: float | str | None = None
    alphas: tuple[float, ...] = (0.1, 1.0, 10.0, 5e5)
    temperatures: tuple[float, ...] = (1.0, 3.0, 10.0)
    kd_alpha: float | None = None
    alpha: float = 1.0
    temperature: float = 3.0
    final_sinr_db: tuple[float, ...] = DEFAULT_SINR_GRID_DB
    final_dmrs_symbols: tuple[int, ...] = (1, 2)
    kd_loss: str = KD_LOSS_NAMES[0]
    kd_reduction: str = KD_REDUCTIONS[0]
    alpha_reductions: tuple[str, ...] = ()
    final_num_seeds: int = 3
    final_batch_size: int = DEFAULTS.batch_size
    final_max_mc_iter: int = DEFAULTS.max_mc_iter
    target_ber: float | tuple[float, ...] = DEFAULTS.target_ber
    equivalence_margin_db: float = 0.5
    perfect_csi_alpha: float | None = None

    def __post_init__(self):
        for name in ("student_widths", "teacher_widths", "teacher_checkpoints", "alphas", "temperatures",
                     "final_sinr_db", "final_dmrs_symbols"):
            values = tuple(getattr(self, name))
            if not values and name not in ("teacher_widths", "teacher_checkpoints"):
                raise InputError(f"{name} must not be empty")
            object.__setattr__(self, name, values)
        if not self.teacher_widths and not self.teacher_checkpoints:
            raise InputError("give at least one teacher: teacher_widths or teacher_checkpoints")
        if not all(isinstance(t, str) and t for t in self.teacher_checkpoints):
            raise InputError("teacher_checkpoints must be checkpoint folders or shipped model names")
        if self.kd_teacher is not None and self.kd_teacher not in (*self.teacher_widths,
                                                                    *self.teacher_checkpoints):
            raise InputError(f"kd_teacher {self.kd_teacher!r} is none of step 2's teachers (teacher_widths "
                             f"{list(self.teacher_widths)}, teacher_checkpoints {list(self.teacher_checkpoints)})")
        widths = (*self.student_widths, self.student_width, *self.teacher_widths)
        alphas = (*self.alphas, self.alpha, *(() if self.kd_alpha is None else (self.kd_alpha,)))
        values = (*widths, *self.temperatures, self.temperature, *alphas)
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
            raise InputError("widths, alphas and temperatures must be finite numbers")
        if min(widths) <= 0 or min(self.temperatures) <= 0 or self.temperature <= 0:
            raise InputError("widths and temperatures must be positive")
        if min(alphas) < 0:
            raise InputError("alpha must be non-negative")
        check_kd_loss(self.kd_loss, self.kd_reduction)
        reductions = tuple(dict.fromkeys(self.alpha_reductions)) or (self.kd_reduction,)
        for reduction in reductions:
            check_kd_loss(self.kd_loss, reduction)
        object.__setattr__(self, "alpha_reductions", reductions)
        targets = self.target_ber if isinstance(self.target_ber, (tuple, list)) else (self.target_ber,)
        if not all(isinstance(t, (int, float)) and 0 < t < 1 for t in targets):
            raise InputError(f"target_ber must be in (0, 1), got {self.target_ber!r}")
        if isinstance(self.target_ber, (tuple, list)):
            if len(targets) != len(self.final_dmrs_symbols):
                raise InputError(f"give one target_ber per final_dmrs_symbols {list(self.final_dmrs_symbols)}, "
                                 f"or one for all; got {list(targets)}")
            object.__setattr__(self, "target_ber", tuple(float(t) for t in targets))
        if not (isinstance(self.equivalence_margin_db, (int, float)) and 0 < self.equivalence_margin_db < math.inf):
            raise InputError("equivalence_margin_db must be a positive number of dB, "
                             f"got {self.equivalence_margin_db!r}")
        if self.perfect_csi_alpha is not None and not (isinstance(self.perfect_csi_alpha, (int, float))
                                                       and 0 < self.perfect_csi_alpha < math.inf):
            raise InputError(f"perfect_csi_alpha must be a positive number, got {self.perfect_csi_alpha!r}")
        if set(self.final_dmrs_symbols) - {1, 2}:
            raise InputError("final_dmrs_symbols must be 1 and/or 2")
        for name in ("final_num_seeds", "final_batch_size", "final_max_mc_iter"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InputError(f"{name} must be a positive integer, got {value!r}")

    def target_ber_for(self, dmrs: int) -> float:
        """Step 4's target BER with ``dmrs`` DMRS symbols."""
        if isinstance(self.target_ber, tuple):
            return self.target_ber[self.final_dmrs_symbols.index(dmrs)]
        return self.target_ber

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}
