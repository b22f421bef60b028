"""``vary:``: any setting as an axis, variants in the store, work shared between them."""

import re
from pathlib import Path

import pytest
import yaml

from multisc.errors import InvalidInputError
from multisc.experiment.config import load_config
from multisc.experiment.store import STORE_FILE, ResultStore
from multisc.experiment.sweep import run_sweep
from multisc.experiment.variants import MAX_RESULTS, Variant, run_variants


def rows_of(out):
    store = ResultStore(Path(out) / STORE_FILE)
    try:
        return store.results()
    finally:
        store.close()


def config_of(tmp_path, **settings):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(settings))
    return load_config(path)


def test_variants_are_the_product_of_the_axes_a_scheme_reads(tmp_path):
    config = config_of(
        tmp_path,
        schemes=["multisc", "vlm_csc", "bpg_ldpc"],
        vary={"ip_scale": [0, 0.5], "rows,cols": [[1, 1], [2, 2]], "budget": ["1/48", "1/24"]},
    )
    labels = [v.label for v in run_variants(config)]
    assert labels == [
        "multisc ip_scale=0 rows=1 cols=1",
        "multisc ip_scale=0 rows=2 cols=2",
        "multisc ip_scale=0.5 rows=1 cols=1",
        "multisc ip_scale=0.5 rows=2 cols=2",
        "vlm_csc",  # reads none of them: once
        "bpg_ldpc budget=1/48",
        "bpg_ldpc budget=1/24",
    ]
    multisc = run_variants(config)[1]
    options = multisc.options(config.scheme_options()).for_scheme("multisc")
    assert (options.ip_scale, options.rows, options.cols) == (0, 2, 2)
    assert config.scheme_options().for_scheme("multisc").ip_scale == 0.5  # base untouched
    assert Variant("bpg_ldpc", (("budget", "1/48"),)).slug == "bpg_ldpc_budget=1-48"


def test_no_vary_hashes_as_before():
    assert "vary" not in load_config().identity()
    assert "candidates" not in load_config().identity()["options"]


@pytest.mark.parametrize(
    ("vary", "schemes", "message"),
    [
        ({"ip_scale": []}, ["multisc"], "ip_scale has no values"),
        ({"ip_scale": 0.5}, ["multisc"], "must list its values"),
        ({"ip_scale": [0.5, 9]}, ["multisc"], r"option ip_scale: 9 is not a finite number"),
        ({"corrector": ["bart", "nope"]}, ["multisc"], "corrector: 'nope' is not one of"),
        ({"ip_scal": [1]}, ["multisc"], "did you mean 'ip_scale'"),
        ({"ip_scale": [1]}, ["bpg_ldpc"], "no chosen scheme reads ip_scale.*multisc, single_text"),
        ({"budget": ["1/48"]}, ["multisc"], "bpg_ldpc, deep_jscc would"),
        ({"rows,cols": [[1, 2, 3]]}, ["multisc"], "takes 2-value lists"),
        ({"steps": [2, 2]}, ["multisc"], "lists the value 2 twice"),
        ({"mcs": [5]}, ["bpg_ldpc"], "mcs=5: mcs applies to model: nr only"),
    ],
)
def test_bad_axes_are_one_line_before_any_work(tmp_path, vary, schemes, message):
    with pytest.raises(InvalidInputError, match=message) as caught:
        config_of(tmp_path, schemes=schemes, vary=vary)
    assert "\n" not in str(caught.value)


def test_channel_settings_give_one_channel_per_value(tmp_path):
    config = config_of(
        tmp_path,
        schemes=["bpg_ldpc"],
        channel={"model": "nr", "tdl": "none", "mcs": 5},
        vary={"mcs": [5, 10]},
    )
    labels = [c.label for c in config.channels()]
    assert len(labels) == 2 and labels[0].endswith("mcs5") and labels[1].endswith("mcs10")


def test_a_run_too_large_is_refused_with_its_count(fast_config):
    config, _ = fast_config(
        out="huge",
        snr_db=[s / 10 for s in range(500)],
        vary={"budget": [f"1/{n}" for n in range(2, 12)]},
    )
    with pytest.raises(InvalidInputError, match=f"30,000 results .*limit is {MAX_RESULTS:,}"):
        run_sweep(config)
    assert not (Path(config.out) / STORE_FILE).exists()


@pytest.mark.slow
def test_a_budget_sweep_stores_variants_and_encodes_each_quality_once(fast_config, monkeypatch):
    from multisc.codecs import hevc

    calls: list[tuple] = []
    encode = hevc.encode_heif

    def counted(image, quality, chroma="420"):
        calls.append((image.tobytes(), quality, chroma))
        return encode(image, quality, chroma)

    monkeypatch.setattr(hevc, "encode_heif", counted)
    hevc._ENCODED.clear()
    config, _ = fast_config(
        out="budgets", schemes=["bpg_ldpc"], snr_db=[18.0], vary={"budget": ["1/8", "1/4", "1/2"]}
    )
    summary = run_sweep(config)
    rows = rows_of(summary.out)
    assert len(rows) == 3 * 3  # images x budgets
    by_label = {}
    for row in rows:
        by_label.setdefault(row["scheme"], []).append(row)
        assert row["settings"] == {"budget": row["scheme"].split("=")[1]}
        assert (summary.out / row["image_path"]).is_file()
        assert "bpg_ldpc_budget=1-" in row["image_path"]
    assert sorted(by_label) == ["bpg_ldpc budget=1/2", "bpg_ldpc budget=1/4", "bpg_ldpc budget=1/8"]
    # more channel uses buy more PSNR (18 dB: no bit errors)
    uses = {label: sum(r["channel_uses"] for r in items) for label, items in by_label.items()}
    assert uses["bpg_ldpc budget=1/8"] < uses["bpg_ldpc budget=1/4"] < uses["bpg_ldpc budget=1/2"]
    psnr = {label: sum(r["metrics"]["psnr"] for r in items) for label, items in by_label.items()}
    assert psnr["bpg_ldpc budget=1/8"] < psnr["bpg_ldpc budget=1/2"]
    # every (image, quality) encoded once, whichever budgets bisected through it: three
    # bisections of ~7 encodes per image, far fewer distinct encodes than 3 x 7
    assert len(calls) == len(set(calls))
    assert len(calls) < 3 * 3 * 8
    csv = (summary.out / "results.csv").read_text().splitlines()
    assert csv[0].count('"budget"') == 1 and csv[0].count('"scheme_name"') == 1
    # resuming finds nothing to do; another budget list is another experiment
    assert run_sweep(config).new_rows == 0


def _semantic_config(tmp_path, image_folder, tiny_models, out, vary):
    return config_of(
        tmp_path,
        images=str(image_folder),
        limit=2,
        schemes=["multisc"],
        snr_db=[6.0],
        out=str(tmp_path / out),
        device="cpu",
        models=str(tiny_models),
        options={"steps": 2, "segment_size": 96, "caption_tokens": 8},
        vary=vary,
    )


@pytest.mark.slow
@pytest.mark.long
def test_an_ip_scale_sweep_captions_and_loads_as_often_as_one_value(
    tmp_path, image_folder, tiny_models, monkeypatch
):
    from multisc.receiver.generation import ImageGenerator
    from multisc.transmitter.captioning import LlavaCaptioner
    from multisc.transmitter.segmentation import Segmenter

    def count(cls, name, calls):
        original = getattr(cls, name)

        def counted(*args, **kwargs):
            calls.append(name)
            return original(*args, **kwargs)

        monkeypatch.setattr(
            cls,
            name,
            counted
            if name != "from_pretrained"
            else classmethod(
                lambda c, *a, **k: calls.append(name) or original.__func__(c, *a, **k)
            ),
        )

    def run(out, values):
        calls: list[str] = []
        count(LlavaCaptioner, "caption", calls)
        count(Segmenter, "segment", calls)
        count(ImageGenerator, "from_pretrained", calls)
        config = _semantic_config(tmp_path, image_folder, tiny_models, out, {"ip_scale": values})
        run_sweep(config)
        monkeypatch.undo()
        return calls, rows_of(config.out)

    one_calls, one = run("one", [0.5])
    five_calls, five = run("five", [0, 0.25, 0.5, 0.75, 1])
    assert sorted(one_calls) == sorted(five_calls)  # same captioner, segmenter, SD loads
    assert one_calls.count("caption") >= 1 and one_calls.count("segment") >= 1
    assert five_calls.count("from_pretrained") == 1
    assert len(five) == 2 * 5 and len(one) == 2
    labels = sorted({r["scheme"] for r in five})
    assert labels[0] == "multisc ip_scale=0" and len(labels) == 5
    # the texts are the same prepare's; lambda changes the image
    by = {(r["image_id"], r["settings"]["ip_scale"]): r for r in five}
    image = one[0]["image_id"]
    assert by[(image, 0)]["texts_sent"] == by[(image, 1)]["texts_sent"] == one[0]["texts_sent"]
    assert by[(image, 0.5)]["metrics"] == pytest.approx(one[0]["metrics"])
    assert by[(image, 0)]["metrics"]["psnr"] != by[(image, 1)]["metrics"]["psnr"]


@pytest.mark.slow
def test_the_report_of_a_budget_sweep_plots_against_the_setting_and_bandwidth(fast_config):
    import json

    from multisc.report.build import build_report

    config, _ = fast_config(
        out="budget-report", schemes=["bpg_ldpc", "deep_jscc"], snr_db=[6.0, 18.0],
        vary={"budget": ["1/8", "1/2"]}, compare_to="bpg_ldpc",
    )  # fmt: skip
    summary = run_sweep(config)
    out = summary.out
    assert sorted(summary.variants) == [
        f"{scheme} budget={budget}"
        for scheme in ("bpg_ldpc", "deep_jscc")
        for budget in ("1/2", "1/8")
    ]
    report = build_report(out)
    for name in ("psnr_vs_bandwidth", "ssim_vs_bandwidth"):
        assert (out / "plots" / f"{name}.png").is_file(), name
    # the budget's own axis would repeat k/n on a linear scale: not drawn beside it
    assert not (out / "plots" / "psnr_vs_budget.png").exists()
    statistics = json.loads((out / "paired.json").read_text())
    assert statistics["reference"] == "bpg_ldpc budget=1/8"  # its first variant, by value
    rows = rows_of(out)
    found = {(c["scheme"], c["snr_db"], c["metric"]): c for c in statistics["comparisons"]}
    c = found[("bpg_ldpc budget=1/2", 18.0, "psnr")]
    psnr = {(r["scheme"], r["image_id"]): r["metrics"]["psnr"] for r in rows if r["snr_db"] == 18}
    expected = [
        psnr[("bpg_ldpc budget=1/2", i)] - psnr[("bpg_ldpc budget=1/8", i)]
        for i in {r["image_id"] for r in rows}
    ]
    assert c["pairs"] == 3 and c["mean_difference"] == pytest.approx(sum(expected) / 3)
    assert c["p_value"] is None and "too few" in c["note"]  # 3 images: no power
    page = report.read_text()
    assert "Paired comparison against bpg_ldpc budget=1/8" in page and "no power" in page
    assert "Metrics vs bandwidth" in page and "psnr_vs_budget.png" not in page
    assert re.search(r"for a\s+test\. With fewer", page)  # a space between sentences
    assert "<th>PSNR (dB)</th>" in page and "<th>psnr</th>" not in page  # one set of names


@pytest.mark.slow
def test_compare_overlays_runs_with_paired_statistics_on_what_they_share(fast_config):
    import json

    from multisc.cli import main
    from multisc.experiment.sweep import run_sweep

    a, _ = fast_config(out="awgn", schemes=["bpg_ldpc"], snr_db=[0.0, 6.0])
    b, _ = fast_config(
        out="rayleigh", schemes=["bpg_ldpc"], snr_db=[6.0, 18.0], channel={"model": "rayleigh"}
    )
    run_sweep(a)
    run_sweep(b)
    out = Path(a.out).parent / "both"
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["compare", a.out, b.out, "--out", str(out), "--json"]) == 0
    payload = json.loads(printed.getvalue())
    shared = payload["paired"]["shared"]
    assert shared["images"] == 3 and shared["snrs"] == [6.0] and shared["seeds"] == 1
    # one channel per run: the run's name is the series' (the notes say each run's channel)
    assert payload["paired"]["reference"] == "awgn: bpg_ldpc"
    (c,) = [c for c in payload["paired"]["comparisons"] if c["metric"] == "psnr"]
    assert c["scheme"] == "rayleigh: bpg_ldpc" and c["pairs"] == 3 and c["snr_db"] == 6
    page = (out / "report.html").read_text()
    assert "share 3 image(s), 1 SNR(s)" in page and (out / "plots" / "psnr.png").is_file()
    assert "(awgn: awgn, rayleigh: rayleigh)" in page
    # one scheme in two series; no channel column of "*" rows; a space between sentences
    assert "1 scheme(s) in 2 series" in page
    assert "<th>channel</th><th>SNR (dB)</th><th>metric</th>" not in page
    assert "across channels" in page and "test.With" not in page


@pytest.mark.slow
def test_compare_refuses_what_it_cannot_compare(fast_config, tmp_path):
    from multisc.report.compare import compare_runs
    from multisc.runroot import RunRoot

    a, _ = fast_config(out="a", schemes=["bpg_ldpc"], snr_db=[0.0])
    b, _ = fast_config(out="b", schemes=["bpg_ldpc"], snr_db=[18.0])
    run_sweep(a)
    run_sweep(b)
    with pytest.raises(InvalidInputError, match="share no"):
        compare_runs([a.out, b.out], tmp_path / "x")
    (tmp_path / "not-a-run").mkdir()
    with pytest.raises(InvalidInputError, match="is not a run directory"):
        compare_runs([a.out, tmp_path / "not-a-run"], tmp_path / "x")
    with pytest.raises(InvalidInputError, match="does not exist"):
        compare_runs([a.out, tmp_path / "nope"], tmp_path / "x")
    with RunRoot(Path(b.out)).locked(), pytest.raises(InvalidInputError, match="being written"):
        compare_runs([a.out, b.out], tmp_path / "x")
