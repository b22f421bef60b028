"""The shipped experiment configs run end to end, as written, through the CLI.

The semantic ones run with tiny random models (``--models``), one image and one SNR: the
test adds ``--models TINY --limit 1 --snr 6 --out TMP`` and nothing else. The bandwidth one
needs no downloaded weights and runs for real, on two bundled photos at three SNRs."""

import contextlib
import io
import json
from pathlib import Path

import pytest

from multisc.cli import main
from multisc.experiment.config import load_config
from multisc.experiment.variants import run_variants

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def run_cli(*args: str) -> dict:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["run", *args, "--json"]) == 0
    return json.loads(printed.getvalue())


@pytest.mark.slow
@pytest.mark.long
@pytest.mark.parametrize(
    ("name", "setting", "values"),
    [
        ("ablation-ip-scale", "ip_scale", 5),
        ("ablation-blocks", "rows", 4),
        ("ablation-corrector", "corrector", 3),
        ("candidates", "candidates", 4),
    ],
)
def test_a_shipped_ablation_runs_end_to_end(tiny_models, tmp_path, name, setting, values):
    path = CONFIGS / f"{name}.yaml"
    out = tmp_path / name
    payload = run_cli(
        str(path), "--models", str(tiny_models), "--limit", "1", "--snr", "6", "--out", str(out)
    )
    config = load_config(path)
    assert len(run_variants(config)) == values == len(payload["variants"])
    assert payload["rows"] == values and not payload["skipped"] and not payload["failed"]
    assert {v[setting] for v in payload["variants"].values()} == {
        v.as_dict()[setting] for v in run_variants(config)
    }
    assert payload["paired"]["reference"] == run_variants(config)[0].label
    plots = {p.name for p in (out / "plots").iterdir()}
    axis = "rows_cols" if setting == "rows" else setting  # a paired axis is one axis
    assert f"psnr_vs_{axis}.png" in plots


@pytest.mark.slow
@pytest.mark.long
def test_the_bandwidth_config_runs_for_real(tmp_path):
    out = tmp_path / "bandwidth"
    payload = run_cli(
        str(CONFIGS / "bandwidth.yaml"), "--limit", "2", "--snr", "0,9,18", "--out", str(out)
    )
    assert payload["rows"] == 2 * 4 * 2 * 3 and not payload["skipped"]
    plots = {p.name for p in (out / "plots").iterdir()}
    # k/n says what the budget's own axis would, on a truer scale: only k/n is drawn
    assert "psnr_vs_bandwidth.png" in plots and "psnr_vs_budget.png" not in plots
    from multisc.experiment.store import STORE_FILE, ResultStore

    store = ResultStore(out / STORE_FILE)
    rows = store.results()
    store.close()
    psnr = {}
    for row in rows:
        if row["snr_db"] == 18:
            psnr.setdefault(row["scheme"], []).append(row["metrics"]["psnr"])
    mean = {label: sum(v) / len(v) for label, v in psnr.items()}
    # at 18 dB a larger budget buys PSNR for both schemes (k/n 1/48 -> 1/6)
    for scheme in ("bpg_ldpc", "deep_jscc"):
        assert mean[f"{scheme} budget=1/6"] > mean[f"{scheme} budget=1/48"] + 1.0, scheme


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_config_is_valid_and_writes_to_its_own_folder(path):
    config = load_config(path)
    assert Path(config.out).name == path.stem
    assert run_variants(config)


@pytest.mark.slow
@pytest.mark.long
def test_the_four_links_config_runs_with_each_link_at_its_own_snr(tiny_models, tmp_path):
    out = tmp_path / "four-links"
    payload = run_cli(
        str(CONFIGS / "four-links.yaml"), "--models", str(tiny_models), "--limit", "1",
        "--snr", "6", "--out", str(out),
    )  # fmt: skip
    assert payload["rows"] == 4 and not payload["skipped"] and not payload["failed"]
    import pandas as pd

    rows = pd.read_csv(out / "results.csv")
    multisc = rows[rows["scheme_name"] == "multisc"]
    assert len(multisc) == 3 and set(multisc["worst_link_snr_db"]) == {-3.0}
    assert {tuple(json.loads(v)) for v in multisc["link_snr_db"]} == {(6.0, 3.0, 0.0, -3.0)}
    single = rows[rows["scheme_name"] == "single_text"]
    assert single["link_snr_db"].isna().all()  # one link, at the run's SNR
    plots = {p.name for p in (out / "plots").iterdir()}
    assert {"psnr_vs_worst_link.png", "psnr_vs_link_outage.png"} <= plots
    assert "Metrics vs the worst link" in (out / "report.html").read_text()


@pytest.mark.slow
@pytest.mark.long
def test_the_component_ablation_runs_end_to_end_segmenting_and_captioning_once_each(
    tiny_models, tmp_path
):
    """captioner x segmenter x IP-Adapter x generator: 48 variants on one image at one SNR;
    each image segmented once per segmenter and captioned once per captioner, whatever
    the receiver's parts; each row names the parts it was made with."""
    out = tmp_path / "ablation-components"
    payload = run_cli(
        str(CONFIGS / "ablation-components.yaml"), "--models", str(tiny_models), "--limit",
        "1", "--snr", "6", "--out", str(out),
    )  # fmt: skip
    config = load_config(CONFIGS / "ablation-components.yaml")
    variants = run_variants(config)
    assert len(variants) == 48 == payload["rows"] and not payload["skipped"]
    assert not payload["failed"]
    log = [json.loads(line) for line in (out / "cache" / "prepare" / "log.jsonl").open()]
    stages = [entry["stage"] for entry in log if "stage" in entry]
    assert stages.count("segment") == 3 and stages.count("caption") == 4
    import pandas as pd

    rows = pd.read_csv(out / "results.csv")
    chosen = rows[["captioner", "segmenter", "ip_adapter", "generator"]]
    assert len(set(map(tuple, chosen.to_numpy()))) == 48
    assert set(rows["generator"]) == {"sd15", "sd15-lcm"}
    assert set(rows["captioner"]) == set(config.vary["captioner"])
