"""The README's figures are the committed results' numbers: none can drift from its source."""

import functools
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "examples" / "results" / "default_scenario"
#: README row label -> (results folder, receiver in its results.json)
ROWS = {
    "LS+LMMSE, 1 DMRS symbol": ("dmrs1", "lmmse"),
    "**DeepRx, 1 DMRS symbol**": ("dmrs1", "deeprx"),
    "perfect CSI, 1 DMRS symbol": ("dmrs1", "perfect-csi"),
    "LS+LMMSE, 2 DMRS symbols": ("dmrs2", "lmmse"),
    "**DeepRx, 2 DMRS symbols**": ("dmrs2", "deeprx"),
    "perfect CSI, 2 DMRS symbols": ("dmrs2", "perfect-csi"),
}


def as_in_readme(ber: float) -> str:
    """A BER as the README writes it: three significant digits, no leading zero in the exponent."""
    mantissa, exponent = f"{ber:.2e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def table_rows(lines: list[str], header: int) -> list[list[str]]:
    """The cells of a Markdown table's rows, the table's header at ``lines[header]``."""
    rows = []
    for line in lines[header + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def readme_table() -> tuple[list[float], dict[str, list[str]]]:
    """The SINR columns [dB] of the README's results table and its rows' cells."""
    lines = (ROOT / "README.md").read_text().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| |") and "Geometric Mean BER" in line)
    sinrs = [float(m) for m in re.findall(r"\| (\d+) dB", lines[header])]
    return sinrs, {cells[0]: cells[1:] for cells in table_rows(lines, header)}


def test_every_readme_figure_is_in_the_committed_results():
    sinrs, rows = readme_table()
    assert sinrs and set(rows) == set(ROWS), rows
    for label, (folder, receiver) in ROWS.items():
        report = json.loads((RESULTS / folder / "results.json").read_text())
        entry = report["receivers"][receiver]
        by_sinr = {p["sinr_db"]: p for p in entry["points"]}
        cells = rows[label]
        assert len(cells) == len(sinrs) + 1, label
        for sinr, cell in zip(sinrs, cells):
            assert cell == as_in_readme(by_sinr[sinr]["uncoded_ber"]), (label, sinr)
        assert cells[-1] == f"{entry['geometric_mean_ber']:.3f}", label


def test_the_readme_block_error_sentence_is_the_committed_results():
    def deeprx_points(folder, from_db):
        report = json.loads((RESULTS / folder / "results.json").read_text())
        return [p for p in report["receivers"]["deeprx"]["points"] if p["sinr_db"] >= from_db]

    one = deeprx_points("dmrs1", 25)
    blers, errors = [p["bler"] for p in one], [p["block_errors"] for p in one]
    blocks = {p["blocks"] for p in one}
    assert len(blocks) == 1
    sentence = (f"Its BLER from 25 dB on is {min(blers):.3f}-{max(blers):.3f} with one pilot symbol "
                f"({min(errors)}-{max(errors)} block errors in {blocks.pop():,} per point)")
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert sentence in readme
    two = deeprx_points("dmrs2", 20)
    assert all(p["block_errors"] == 0 for p in two), "the sentence says none: re-write it"
    assert f"with two, none of the {two[0]['blocks']:,} blocks per point was in error from 20 dB on" in readme


@pytest.mark.parametrize("folder, dmrs", [("dmrs1", 1), ("dmrs2", 2)])
def test_the_committed_results_are_the_default_scenario_with_the_shipped_model(folder, dmrs):
    from link_sim import LinkConfig

    report = json.loads((RESULTS / folder / "results.json").read_text())
    assert report["scenario"] == LinkConfig(num_dmrs_symbols=dmrs).to_dict()
    command = report["command"]
    assert command.startswith("deeprx simulate") and f"--out examples/results/default_scenario/{folder}" in command
    assert ("--num-dmrs-symbols 2" in command) == (dmrs == 2)
    assert "--checkpoint" not in command and "--receiver" not in command  # the shipped model and baselines


def test_simulate_md_at_rest_figures_are_the_committed_results():
    from link_sim import LinkConfig

    report = json.loads((RESULTS / "at_rest" / "results.json").read_text())
    assert report["scenario"] == LinkConfig(speed_mps=(0.0, 0.0)).to_dict()
    assert report["command"].endswith("--out examples/results/default_scenario/at_rest")
    at_35 = {name: next(p["uncoded_ber"] for p in entry["points"] if p["sinr_db"] == 35)
             for name, entry in report["receivers"].items()}
    gmber = {name: f"{entry['geometric_mean_ber']:.3f}" for name, entry in report["receivers"].items()}
    sentence = (f"LS+LMMSE reaches an uncoded BER of {as_in_readme(at_35['lmmse'])} at 35 dB, the shipped DeepRx "
                f"{as_in_readme(at_35['deeprx'])} (perfect CSI {as_in_readme(at_35['perfect-csi'])}), and DeepRx's "
                f"Geometric Mean BER is {gmber['deeprx']} (perfect CSI {gmber['perfect-csi']}).")
    assert sentence in " ".join((ROOT / "docs" / "simulate.md").read_text().split())


def test_the_batch_norm_by_channel_table_is_its_json():
    report = json.loads((TRAINING.parent / "training" / "batch_norm_by_channel.json").read_text())
    lines = TRAINING.read_text().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| channel model | Geometric Mean BER, pooled"))
    assert table_rows(lines, header) == [[channel, f"{e['pooled']['val_gmber']:.3f}", f"{e['own_channel']['val_gmber']:.3f}"]
                                         for channel, e in report["channel_models"].items()]


def test_the_statistics_slot_count_claim_is_its_json():
    """training.md section 8: other seeds and more slots move validation by less than it says."""
    shipped = json.loads((TRAINING.parent / "training" / "validation_stage5.json").read_text())["checkpoints"]["default"]
    others = json.loads((TRAINING.parent / "training" / "batch_norm_slots_validation.json").read_text())["checkpoints"]
    bound = float(re.search(r"Geometric Mean BERs within (\S+) of the\s+shipped statistics", TRAINING.read_text())[1])
    assert set(others) == {"bn512_s7", "bn2048_s7"}
    assert max(abs(o[d]["val_gmber"] - shipped[d]["val_gmber"]) for o in others.values() for d in ("dmrs1", "dmrs2")) < bound


REPRODUCTION = ROOT / "docs" / "REPRODUCTION.md"
KD_FINAL = ROOT / "examples" / "results" / "reproduction" / "kd_sweep" / "final.json"
KD_ARMS = ("scratch student", "KD student", "teacher", "LS+LMMSE")


def test_the_reproductions_fig6_table_and_gains_are_its_final_json():
    """docs/REPRODUCTION.md's Fig. 6 table (BER [interval] per arm, Geometric Mean BER) and KD
    gains are `final.json`'s numbers as written there: 3 and 2 significant digits, gains in dB."""
    final = json.loads(KD_FINAL.read_text())
    lines = REPRODUCTION.read_text().splitlines()
    header = lines.index("| SINR | " + " | ".join(KD_ARMS) + " |")
    dmrs, seen = None, 0
    for cells in table_rows(lines, header):
        if cells[0].startswith("**"):
            dmrs = cells[0].strip("*").split()[0]
            continue
        curves = final["dmrs"][dmrs]["curves"]
        if cells[0] == "Geometric Mean BER":
            assert cells[1:] == [f"{curves[a]['geometric_mean_ber']:.3f}" for a in KD_ARMS], cells
        else:
            i = curves["teacher"]["sinr_db"].index(float(cells[0].split()[0]))
            assert cells[1:] == [f"{curves[a]['uncoded_ber'][i]:.3g} [{curves[a]['ci_low'][i]:.2g}, "
                                 f"{curves[a]['ci_high'][i]:.2g}]" for a in KD_ARMS], cells
        seen += 1
    assert seen == 8
    text = " ".join(lines)
    for entry in final["dmrs"].values():
        gain = entry["kd_gain_over_scratch"] or entry["exploratory_gain"]
        assert (f"**{gain['gain_db']:+.2f} dB [{gain['low_db']:+.2f}, {gain['high_db']:+.2f}]**" in text
                and f"{gain['equivalence_bound_db']:.2f} dB" in text), gain


TRAINING = ROOT / "docs" / "training.md"
#: docs/training.md's per-symbol table: row label -> (JSON made by examples/ber_by_symbol.py, receiver)
BY_SYMBOL_ROWS = {
    "DeepRx, 1 DMRS symbol": ("ber_by_symbol_dmrs1.json", "DeepRx default"),
    "stage 5, 1 DMRS symbol": ("ber_by_symbol_dmrs1_stage5.json", "DeepRx default"),
    "perfect CSI, 1 DMRS symbol": ("ber_by_symbol_dmrs1.json", "perfect CSI"),
    "DeepRx, 1 DMRS symbol, 0-5 m/s": ("ber_by_symbol_dmrs1_speed0-5.json", "DeepRx default"),
    "DeepRx, 1 DMRS symbol, 15-20 m/s": ("ber_by_symbol_dmrs1_speed15-20.json", "DeepRx default"),
    "DeepRx, 2 DMRS symbols": ("ber_by_symbol_dmrs2.json", "DeepRx default"),
}


def test_the_per_symbol_table_in_training_md_is_its_json():
    lines = TRAINING.read_text().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| symbol |"))
    symbols = [int(s) for s in lines[header].strip("|").split("|")[1:]]
    rows = {cells[0]: cells[1:] for cells in table_rows(lines, header)}
    assert set(rows) == set(BY_SYMBOL_ROWS), rows
    for label, (name, receiver) in BY_SYMBOL_ROWS.items():
        ber = json.loads((TRAINING.parent / "training" / name).read_text())["uncoded_ber_by_symbol"][receiver]
        assert rows[label] == [as_in_readme(ber[s]) for s in symbols], label


def test_the_per_symbol_reading_in_training_md_is_its_json():
    """Section 7's prose: the shipped model's growth over the slot, by speed, against perfect CSI."""
    def report(name):
        return json.loads((TRAINING.parent / "training" / f"ber_by_symbol_{name}.json").read_text())

    one, slow, fast = report("dmrs1"), report("dmrs1_speed0-5"), report("dmrs1_speed15-20")
    deeprx, perfect = (one["uncoded_ber_by_symbol"][r] for r in ("DeepRx default", "perfect CSI"))
    slot = one["uncoded_ber"]["DeepRx default"]
    text = " ".join(TRAINING.read_text().split())

    def said(ber):
        return as_in_readme(ber)

    assert (f"{said(deeprx[3])} next to it ({deeprx[3] / perfect[3]:.1f}x perfect CSI), {said(deeprx[13])} at the "
            f"slot's last symbol ({deeprx[13] / perfect[13]:.0f}x)") in text
    s, f = (r["uncoded_ber_by_symbol"]["DeepRx default"] for r in (slow, fast))
    s_slot, f_slot = slow["uncoded_ber"]["DeepRx default"], fast["uncoded_ber"]["DeepRx default"]
    assert (f"at 0-5 m/s it still grows {s[13] / s[3]:.1f}x over the slot ({said(s[3])} next to the pilot to "
            f"{said(s[13])}; {said(s_slot)} over the slot), at 15-20 m/s {f[13] / f[3]:.0f}x ({said(f[3])} to "
            f"{said(f[13])}; {said(f_slot)} over the slot, {f_slot / s_slot:.1f}x the slow UE's)") in text
    assert f_slot / 4 > slot / 2 and f"({said(f_slot)} / 4 against {said(slot)} over all speeds)" in text
    stage5 = report("dmrs1_stage5")["uncoded_ber"]["DeepRx default"]
    assert f"uncoded BER is {said(slot)} with one DMRS symbol (stage 5: {said(stage5)})" in text
    assert f"tracking is worth up to about {slot / deeprx[3]:.1f}x" in text
    data = [b for b in deeprx if b is not None]
    assert f"(symbols 8-13, {said(sum(deeprx[8:]))} of the {said(sum(data))} summed" in text


#: docs/training.md section 8: row label -> (checkpoint in batch_norm_by_dmrs.json, statistics)
BATCH_NORM_ROWS = {
    "shipped, as saved": ("default", "saved"),
    "shipped, statistics per DMRS count": ("default", "reestimated"),
    "long run's best so far (epoch 15), as saved": ("best", "saved"),
    "the same, statistics per DMRS count": ("best", "reestimated"),
}


def validation_table(first_label: str, page: Path = TRAINING) -> dict[str, list[str]]:
    """A validation table of ``page`` (``| model | 1 DMRS symbol | ...``) whose first row is ``first_label``."""
    lines = page.read_text().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| model | 1 DMRS symbol |")
                  and lines[i + 2].startswith(f"| {first_label} |"))
    return {cells[0]: cells[1:] for cells in table_rows(lines, header)}


def validation_cells(report: dict, entry_of) -> list[str]:
    """A validation table row as written: per DMRS count, the BERs at the report's SINRs and their
    Geometric Mean BER; ``entry_of(dmrs)`` is that DMRS count's entry of ``report``."""
    cells = []
    for dmrs in ("dmrs1", "dmrs2"):
        entry = entry_of(dmrs)
        cells += [" / ".join(as_in_readme(entry[f"val_ber_{s:g}dB"]) for s in report["sinr_db"]),
                  f"{entry['val_gmber']:.3f}"]
    return cells


def test_the_batch_norm_table_in_training_md_is_its_json():
    report = json.loads((TRAINING.parent / "training" / "batch_norm_by_dmrs.json").read_text())
    rows = validation_table("shipped, as saved")
    assert set(rows) == set(BATCH_NORM_ROWS), rows
    for label, (name, statistics) in BATCH_NORM_ROWS.items():
        expected = validation_cells(report, lambda dmrs: report["checkpoints"][name][dmrs][statistics])
        assert [cell.strip("*") for cell in rows[label]] == expected, label


MODEL_CARD = ROOT / "deeprx_tf" / "models" / "default" / "MODEL_CARD.md"
CARD_HEADER = "| SINR [dB] | LS+LMMSE uncoded BER / BLER | perfect CSI uncoded BER / BLER |"


def card_cells(report: dict, sinr: float) -> list[str]:
    """A row of the model card's per-SINR table as it writes the numbers of ``results.json``."""
    point = {name: next(p for p in entry["points"] if p["sinr_db"] == sinr)
             for name, entry in report["receivers"].items()}
    lmmse, genie, deeprx = point["lmmse"], point["perfect-csi"], point["deeprx"]
    coded = "0" if deeprx["coded_ber"] == 0 else f"{deeprx['coded_ber']:.2e}"
    return [f"{sinr:g}", f"{lmmse['uncoded_ber']:.2e} / {lmmse['bler']:.2f}",
            f"{genie['uncoded_ber']:.2e} / {genie['bler']:.2f}",
            f"{deeprx['uncoded_ber']:.2e} / {coded} / {deeprx['bler']:.3f}", f"{lmmse['coded_ber']:.2e}"]


@pytest.mark.parametrize("page, folders", [(MODEL_CARD, ("dmrs1", "dmrs2")),
                                           (ROOT / "docs" / "simulate.md", ("dmrs1",))])
def test_the_per_sinr_tables_are_the_committed_results(page, folders):
    """The model card's tables (one and two DMRS symbols) and docs/simulate.md's are results.json's."""
    lines = page.read_text().splitlines()
    headers = [i for i, line in enumerate(lines) if line.startswith(CARD_HEADER)]
    assert len(headers) == len(folders)
    for header, folder in zip(headers, folders):
        report = json.loads((RESULTS / folder / "results.json").read_text())
        rows = table_rows(lines, header)
        assert [float(cells[0]) for cells in rows] == [p["sinr_db"] for p in report["receivers"]["deeprx"]["points"]]
        for cells in rows:
            assert cells == card_cells(report, float(cells[0])), (folder, cells)


#: validation tables: row label -> (its JSON in docs/training, checkpoint in it[, statistics in it: the
#: tables of batch_norm_by_dmrs.py's JSON]); the first row of each dict is its table's first
LONG_RUN_ROWS = {  # docs/training.md section 9
    "stage 3 (shipped before), with its statistics": ("validation_stage5.json", "retrain_stage3"),
    "long run, epoch 26": ("long_x05_validation.json", "long_x05_epoch26_bn"),
    "long run, epoch 29": ("long_x05_validation.json", "long_x05_epoch29_bn"),
    "long run, epoch 31": ("long_x05_validation.json", "long_x05_epoch31_bn"),
    "average of epochs 27-31 (stage 5)": ("long_x05_validation.json", "long_x05_avg27_31"),
    "the average, its own moving statistics (both counts pooled)":
        ("batch_norm_by_dmrs_stage5.json", "default", "saved"),
    **{f"long run, epoch {n}": ("long_x05_validation_36_40_44.json", f"long_x05_epoch{n}_bn") for n in (36, 40, 44)},
    "**long run, epoch 63 (stage 6, shipped)**": ("long_x05_final_validation.json", "long_x05_epoch63_bn"),
    "average of epochs 59-63": ("long_x05_final_validation.json", "long_x05_avg59_63"),
    "average of epochs 54-63": ("long_x05_final_validation.json", "long_x05_avg54_63"),
}
CARD_VALIDATION_ROWS = {  # the model card
    "this model (stage 6)": ("validation_stage6.json", "default"),
    "stage 5 (shipped before it), with its statistics": ("validation_stage6.json", "stage5"),
    "this model, its own moving statistics (both counts mixed)":
        ("batch_norm_by_dmrs_stage6.json", "default", "saved"),
}


@pytest.mark.parametrize("page, labels", [(TRAINING, LONG_RUN_ROWS), (MODEL_CARD, CARD_VALIDATION_ROWS)])
def test_the_validation_tables_are_their_json(page, labels):
    rows = validation_table(next(iter(labels)), page)
    assert set(rows) == set(labels), rows
    for label, (name, key, *statistics) in labels.items():
        report = json.loads((TRAINING.parent / "training" / name).read_text())
        entry_of = lambda dmrs: functools.reduce(dict.__getitem__, statistics, report["checkpoints"][key][dmrs])
        assert rows[label] == validation_cells(report, entry_of), label


#: docs/training.md section 9's link table: row label -> its results folder (dmrs1 or dmrs2 below it)
STAGE_ROWS = {
    "stage 3 with its statistics": TRAINING.parent / "training" / "default_scenario_stage3_statistics",
    "stage 5 (the average)": TRAINING.parent / "training" / "default_scenario_stage5",
    "stage 6 (epoch 63, shipped)": RESULTS,
}


def test_the_stage_table_in_training_md_is_the_committed_results():
    lines = TRAINING.read_text().splitlines()
    section = lines.index("## 9. The long run, weight averaging, and what ships")
    header = next(i for i, line in enumerate(lines)
                  if i > section and line.startswith("| | uncoded BER at 30 dB | BLER at 25 / 30 / 35 dB |"))
    rows = table_rows(lines, header)
    assert len(rows) == 2 * len(STAGE_ROWS)
    for label, at_30, bler, gmber in rows:
        count, stage = re.fullmatch(r"(\d) DMRS symbols?, (.+)", label).groups()
        entry = json.loads((STAGE_ROWS[stage] / f"dmrs{count}" / "results.json").read_text())["receivers"]["deeprx"]
        points = {p["sinr_db"]: p for p in entry["points"]}
        assert at_30 == as_in_readme(points[30]["uncoded_ber"]), label
        assert bler == " / ".join("0" if points[s]["bler"] == 0 else f"{points[s]['bler']:.3f}" for s in (25, 30, 35)), label
        assert gmber == f"{entry['geometric_mean_ber']:.3f}", label


def test_the_block_error_target_sentence_is_its_json():
    """training.md section 9: the BLER on 6,400 blocks per point and its Clopper-Pearson bounds."""
    from scipy.stats import beta

    report = json.loads((RESULTS / "dmrs1_bler" / "results.json").read_text())
    assert report["command"].endswith("--out examples/results/default_scenario/dmrs1_bler")
    points = report["receivers"]["deeprx"]["points"]
    assert {p["blocks"] for p in points} == {6400}
    upper = [beta.ppf(0.975, p["block_errors"] + 1, p["blocks"] - p["block_errors"]) for p in points]
    blers = " / ".join(f"{p['bler']:.4f}" for p in points)
    sentence = (f"it is {blers} "
                f"({' / '.join(str(p['block_errors']) for p in points)} block errors), Clopper-Pearson 95 % "
                f"upper bounds {' / '.join(f'{u:.4f}' for u in upper)}")
    assert sentence in " ".join(TRAINING.read_text().split())


BENCHMARKS = ROOT / "docs" / "benchmarks.md"
EXPORT_JSON = ROOT / "benchmarks" / "results" / "export.json"
#: docs/benchmarks.md's export tables: row label -> its key in export.json
EXPORT_ROWS = {
    "Keras float = TFLite float": "keras_float",
    "Keras float, int8-quantized input only": "keras_float_int8_input",
    "Keras float, int8-rounded weights only": "keras_int8_weights",
    "TFLite int8, converter's minmax calibration": "tflite_int8_minmax",
    "TFLite int8 (= edgetpu, bit for bit), batch-mean calibration": "tflite_int8",
    "TFLite int8 (= edgetpu) of the QAT fine-tune, batch-mean": "tflite_int8_qat",
    "TFLite int8 of the QAT fine-tune, its learned ranges": "tflite_int8_qat_learned",
    "Keras float of the QAT fine-tune": "keras_float_qat",
    "TFLite int16x8": "tflite_int16x8",
}
DENSE_ROWS = {
    "Keras float": "keras_float",
    "TFLite int8 (= edgetpu), batch-mean": "tflite_int8",
    "TFLite int8 (= edgetpu) of the QAT fine-tune, batch-mean": "tflite_int8_qat",
    "TFLite int8 of the QAT fine-tune, learned ranges": "tflite_int8_qat_learned",
    "Keras float of the QAT fine-tune": "keras_float_qat",
}


def _db(value: float) -> str:
    """A gap in dB as benchmarks.md writes it: two decimals, a zero as 0."""
    return "0" if round(value, 2) == 0 else f"{value:.2f}"


def _in_db(cells: list[str]) -> str:
    """Gaps joined by " / ", with " dB" after them unless none is a number other than 0."""
    text = " / ".join(cells)
    return text if all(c in ("0", "not reached") for c in cells) else f"{text} dB"


def _rows_by_label(lines: list[str], header: int) -> dict[str, list[str]]:
    """A table's rows by their label, bold marks dropped."""
    return {cells[0].strip("*"): [c.strip("*") for c in cells[1:]] for cells in table_rows(lines, header)}


def test_the_export_tables_in_benchmarks_md_are_export_json():
    report = json.loads(EXPORT_JSON.read_text())
    lines = BENCHMARKS.read_text().splitlines()
    header = lines.index("| | 15 dB | 20 dB | 25 dB | SINR loss at 20 / 25 dB | gap at coded BER 1e-2 |")
    assert [float(s) for s in report["sinr_db"]] == [15.0, 20.0, 25.0]
    rows = _rows_by_label(lines, header)
    assert set(rows) == set(EXPORT_ROWS), rows
    for label, key in EXPORT_ROWS.items():
        loss = report["sinr_loss_db_vs_keras_float"][key][1:]
        gap = report["sinr_gap_db_at_coded_ber_1e-2"][key]
        expected = [as_in_readme(b) for b in report["ber"][key]["uncoded_ber"]]
        expected += [_in_db([_db(x) for x in loss]), _in_db([_db(gap)])]
        assert rows[label] == expected, label
    dense = report["coded_ber_1e-2_dense"]
    header = next(i for i, line in enumerate(lines)
                  if line.endswith("| gap at 1e-2: crossing / least-squares shift |"))
    assert re.findall(r"(\d+) dB", lines[header]) == [f"{s:g}" for s in dense["sinr_db"]]
    rows = _rows_by_label(lines, header)
    assert set(rows) == set(DENSE_ROWS), rows
    for label, key in DENSE_ROWS.items():
        crossing, shift = dense["gap_db_at_coded_ber_1e-2"][key], dense["shift_db_least_squares"][key]
        crossing = "not reached" if isinstance(crossing, str) else _db(crossing)  # the grid misses 1e-2
        gaps = _in_db([crossing, _db(shift)])
        gaps = "0" if gaps == "0 / 0" else gaps
        assert rows[label] == [as_in_readme(b) for b in dense["coded_ber"][key]] + [gaps], label


#: docs/benchmarks.md's latency table: row label -> its key in export.json
LATENCY_ROWS = {
    "Keras float (TensorFlow, graph mode)": "keras_float",
    "TFLite float": "tflite_float",
    "TFLite float, depth multiplier 2 kept": "tflite_float_depth_multiplier_kept",
    "TFLite int8, batch-mean": "tflite_int8",
    "TFLite int8, minmax": "tflite_int8_minmax",
    "TFLite int8 of the QAT fine-tune, batch-mean": "tflite_int8_qat",
    "TFLite int8 of the QAT fine-tune, learned ranges": "tflite_int8_qat_learned",
    "TFLite int8, depth multiplier 2 kept": "tflite_int8_depth_multiplier_kept",
    "TFLite int16x8": "tflite_int16x8",
    "TFLite edgetpu graph, on the CPU": "tflite_edgetpu",
}


def test_the_latency_table_in_benchmarks_md_is_export_json():
    report = json.loads(EXPORT_JSON.read_text())
    lines = BENCHMARKS.read_text().splitlines()
    header = lines.index("| per slot, batch 1 | ms | x Keras float speed |")
    rows = _rows_by_label(lines, header)
    assert set(rows) == set(LATENCY_ROWS), rows
    for label, key in LATENCY_ROWS.items():
        ms, ratio = report["latency_ms_per_slot_batch1"][key], report["latency_ratio_vs_keras_float"][key]
        assert rows[label] == [f"{ms:.3g}", f"{ratio:.2f}"], label
    latency = report["latency_ms_per_slot_batch1"]
    times = round(latency["tflite_int8_depth_multiplier_kept"] / latency["tflite_int8"])
    export_md = " ".join((ROOT / "docs" / "export.md").read_text().split())
    assert f"the int8 file ran {times} times slower" in " ".join(BENCHMARKS.read_text().split())
    assert f"the int8 file was {times} times slower" in export_md
    plain = re.search(r"plain `int8` graph has (\d+) of (\d+) ops mappable", export_md).groups()
    edgetpu = re.search(r"the `edgetpu` graph (\d+) of (\d+)", export_md).groups()
    assert report["exports"]["int8"]["edgetpu_ops_mappable"] == "/".join(plain)
    assert report["exports"]["edgetpu"]["edgetpu_ops_mappable"] == "/".join(edgetpu)


def test_the_stopped_capacity_experiment_is_its_learning_curves():
    """docs/REPRODUCTION.md and the KD plan's amendment: the 12,500-step capacity check, from the runs'
    history.csv (epoch 13 and 25 of 25) and student_size.json."""
    from deeprx_tf.history import read_learning_curve

    folder = ROOT / "examples" / "results" / "reproduction" / "kd_capacity_12500"
    small, student = (read_learning_curve(folder / "runs" / run)["val_gmber"]
                      for run in ("scratch_x0.0625", "scratch_x0.125"))
    assert len(small) == len(student) == 25
    sizes = {row["run"]: row["val_gmber"] for row in json.loads((folder / "student_size.json").read_text())["rows"]}
    assert sizes == {"scratch_x0.0625": small[-1], "scratch_x0.125": student[-1]}
    reproduction = " ".join(REPRODUCTION.read_text().split())
    assert (f"improved by {student[12] - student[24]:.3f} in Geometric Mean BER over the second half of its "
            f"schedule ({student[12]:.3f} after epoch 13, {student[24]:.3f} after epoch 25)") in reproduction
    assert f"x0.0625 was flat at {small[-1]:.3f}" in reproduction
    plan = " ".join((ROOT / "docs" / "kd_capacity_plan.md").read_text().split())
    assert (f"{student[12]:.3f} after epoch 13 and {student[24]:.3f} after epoch 25" in plan
            and f"it improved by {student[12] - student[24]:.3f}, more than the 0.02" in plan)
    assert f"improved by {small[12] - small[24]:.3f} over the same epochs, at {small[-1]:.3f}" in plan


#: docs/benchmarks.md's table of the KD experiment's arms: row label -> its key in kd_cost.json
KD_COST_ROWS = {"scratch": "scratch", "KD from the shipped model (x0.5)": "kd",
                "KD from the perfect-CSI LMMSE receiver": "perfect_csi"}


def test_the_kd_cost_table_in_benchmarks_md_is_kd_cost_json():
    report = json.loads((ROOT / "benchmarks" / "results" / "kd_cost.json").read_text())
    text = BENCHMARKS.read_text()
    lines = text.splitlines()
    rows = _rows_by_label(lines, lines.index("| arm | replayed, slots/s | live, slots/s | live, x scratch |"))
    assert set(rows) == set(KD_COST_ROWS), rows
    for label, arm in KD_COST_ROWS.items():
        entry = report["by_arm"][arm]
        assert rows[label] == [f"{entry['slots_per_s']['cached']:.3g}", f"{entry['slots_per_s']['live']:.3g}",
                               f"{entry['slots_per_s_vs_scratch']['live']:.2f}"], label
    prose = " ".join(text.split())
    assert f"takes {report['teacher_share_live']:.0%} of a KD step".replace("%", " %") in prose
    speedup = 1 / report["by_arm"]["kd"]["slots_per_s_vs_scratch"]["live"]
    assert f"to scratch's pace, {speedup:.1f} times faster" in prose
