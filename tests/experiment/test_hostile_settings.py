"""Settings from someone else (second hostile-input probe): booleans are never numbers,
every option is bounded, axes are counted before they are made, labels never collide, a
"billion laughs" config is refused at load, and every refusal names what was wrong."""

from __future__ import annotations

import dataclasses
import typing

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from multisc.errors import InvalidInputError
from multisc.experiment.config import MAX_CONFIG_VALUES, load_config
from multisc.schemes.options import SchemeOptions

NUMERIC_OPTIONS = [
    f.name
    for f in dataclasses.fields(SchemeOptions)
    if any(t in (int, float) for t in (typing.get_type_hints(SchemeOptions)[f.name],
                                       *typing.get_args(typing.get_type_hints(SchemeOptions)[f.name])))
]  # fmt: skip


def test_the_numeric_options_are_the_ones_the_probe_found():
    assert {"steps", "rows", "cols", "candidates", "ip_scale", "slice_downsample",
            "caption_tokens"} <= set(NUMERIC_OPTIONS)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(
    option=st.sampled_from([*NUMERIC_OPTIONS, "failure_color", "budget"]),
    value=st.sampled_from([True, False, [True, False, True]]),
    scoped=st.booleans(),
)
def test_a_boolean_is_never_a_number(option, value, scoped):
    options = {"multisc": {option: value}} if scoped else {option: value}
    with pytest.raises(InvalidInputError, match=option):
        load_config(schemes=["multisc", "bpg_ldpc"], options=options)


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"seeds": True}, "seeds: true is not a number"),
        ({"limit": False}, "limit: false is not a number"),
        ({"jscc": {"steps": 10**12}}, "less than or equal to 100000"),
        ({"images": ""}, "the image source is empty"),
        ({"images": "  "}, "the image source is empty"),
        ({"channel": {"model": "rayleigh", "coherence": 0}}, "--coherence: .* \\(got 0\\)"),
        ({"channel": {"model": "rayleigh", "coherence": 10**7}}, "\\(got 10000000\\)"),
        ({"channel": {"model": "nr", "csi": "maybe"}}, "--csi: .* \\(got 'maybe'\\)"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(overrides, says):
    flags = {k: v for k, v in overrides.items() if k != "channel"}
    if "channel" in overrides:
        flags["channel"] = overrides["channel"]
    with pytest.raises(InvalidInputError, match=says) as caught:
        load_config(**flags)
    assert "\n" not in str(caught.value)


def _vary(vary: dict, schemes=("bpg_ldpc",)):
    return load_config(schemes=list(schemes), vary=vary)


def test_distinct_values_get_distinct_labels_and_equal_ones_are_refused():
    config = _vary({"bpg_code_rate": [0.5, 0.5000001]})
    from multisc.experiment.variants import run_variants

    labels = [v.label for v in run_variants(config)]
    assert labels == ["bpg_ldpc bpg_code_rate=0.5", "bpg_ldpc bpg_code_rate=0.5000001"]
    with pytest.raises(InvalidInputError, match="vary: budget lists the value 400 twice"):
        _vary({"budget": [400, "400"]})
    with pytest.raises(InvalidInputError, match=r"vary: bpg_code_rate lists the value 0\.5 twice"):
        _vary({"bpg_code_rate": [0.5, 0.50]})
    with pytest.raises(InvalidInputError, match="vary: steps lists the value 2 twice"):
        _vary({"steps": [2, 2.0]}, schemes=("vlm_csc",))


def test_a_product_of_axes_is_counted_before_it_is_made():
    huge = {"steps": list(range(1, 101)), "ip_scale": [i / 100 for i in range(100)],
            "candidates": list(range(1, 9)), "caption_tokens": list(range(1, 101))}  # fmt: skip
    with pytest.raises(InvalidInputError, match="make 8,000,000 variants"):
        _vary(huge, schemes=("multisc",))


def test_a_label_too_long_for_a_folder_is_refused_at_load():
    """Many axes with long values: the label names a folder, so it is refused at load (it
    failed when the first result was written, the store already made)."""
    axes = {
        "ip_scale": [0.1111111111111111], "guidance": [7.777777777777777],
        "text_code_rate": [0.3333333333333333], "steps": [12], "candidates": [3],
        "caption_tokens": [40], "segment_size": [96], "select": ["text+slice"],
        "slice_downsample": [4], "corrector": ["symspell"], "positions": [True],
    }  # fmt: skip
    with pytest.raises(InvalidInputError, match="at most 120"):
        _vary(axes, schemes=("multisc",))


def test_a_billion_laughs_anywhere_is_refused_at_load(tmp_path):
    lines = ["schemes: [multisc]", "a0: &a0 [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]"]
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    lines += ["vary:", "  ip_scale: *a9"]
    path = tmp_path / "laughs.yaml"
    path.write_text("\n".join(lines))
    with pytest.raises(InvalidInputError, match=f"more than {MAX_CONFIG_VALUES:,} values"):
        load_config(path)


def test_mixed_budget_types_export_to_parquet(tmp_path, image_folder, trained_jscc):
    """A budget axis of a ratio and a count (1/48 and 400) is one column of text in
    results.parquet, not an ArrowTypeError."""
    import pandas as pd

    from multisc.experiment.sweep import run_sweep
    from tests.experiment.conftest import write_config

    config, _ = write_config(
        image_folder, trained_jscc, tmp_path, "mixed", schemes=["bpg_ldpc"], snr_db=[12.0],
        limit=1, vary={"budget": ["1/48", 4000]},
    )  # fmt: skip
    summary = run_sweep(config, report=None)
    frame = pd.read_parquet(summary.out / "results.parquet")
    assert sorted(frame["budget"]) == ["1/48", "4000"]


def test_a_run_that_produced_nothing_fails_naming_why(tmp_path, capsys):
    """The only input unreadable: no row, so exit 2 with the reason (it was exit 0 and
    "0 results")."""
    from multisc.cli import main

    images = tmp_path / "in"
    images.mkdir()
    (images / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not a png")
    code = main(["run", "--images", str(images), "--schemes", "bpg_ldpc", "--snr", "6",
                 "--out", str(tmp_path / "run")])  # fmt: skip
    said = " ".join(capsys.readouterr().err.split())
    assert code == 2 and "no result was produced" in said and "broken" in said


@pytest.mark.parametrize("kind", ["link", "folder", "fifo"])
def test_a_store_that_is_not_a_file_is_named_for_what_it_is(tmp_path, kind):
    import os

    from multisc.report.data import read_run

    run = tmp_path / "run"
    run.mkdir()
    store = run / "results.sqlite"
    if kind == "link":
        (tmp_path / "target").write_text("x")
        store.symlink_to(tmp_path / "target")
    elif kind == "folder":
        store.mkdir()
    else:
        os.mkfifo(store)
    said = {"link": "is a symbolic link", "folder": "is a folder", "fifo": "not a regular file"}
    with pytest.raises(InvalidInputError, match=said[kind]):
        read_run(run)


def test_metric_weights_refused_for_their_contents_are_said_to_be_refused(tmp_path):
    """An LPIPS file that is not a state dict: LPIPS is left out with the reason, not as if
    the file were absent."""
    from multisc.experiment.planning import refused_metric_weights
    from multisc.models import REGISTRY

    folder = tmp_path / "models" / "lpips"
    folder.mkdir(parents=True)
    (folder / REGISTRY["lpips"].repo_id).write_bytes(b"not a checkpoint")
    config = load_config(schemes=["bpg_ldpc"], models=str(tmp_path / "models"))
    lines = [line for line in refused_metric_weights(config) if line.startswith("lpips")]
    assert len(lines) == 1 and "was refused" in lines[0] and "state dict" in lines[0]


def test_doctor_says_a_weights_file_that_is_a_folder_is_not_a_regular_file(tiny_models, tmp_path):
    import shutil

    from multisc.models import file_status

    copy = tmp_path / "models"
    shutil.copytree(tiny_models / "clip", copy / "clip")
    weights = copy / "clip" / "pytorch_model.bin"
    weights.unlink()
    weights.mkdir()
    assert file_status("clip", copy)["pytorch_model.bin"] == "not a regular file"
