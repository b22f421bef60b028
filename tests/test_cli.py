import json
import subprocess
import sys

import pytest

from multisc import __version__
from multisc.cli import main
from multisc.data.sources import sample_photos


def run_json(capsys, *argv: str) -> dict:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_channel_json_fields_and_values(capsys):
    data = run_json(
        capsys,
        "channel",
        "--text",
        "a dog on the grass",
        "--snr",
        "30",
        "--modulation",
        "qpsk",
        "--fec",
        "ldpc",
        "--seed",
        "3",
    )
    for field in ("sent", "received", "bits", "bit_errors", "ber", "channel_uses", "snr_db"):
        assert field in data
    assert data["received"] == data["sent"] == "a dog on the grass"
    assert (data["bits"], data["bit_errors"], data["ber"]) == (144, 0, 0.0)
    assert data["channel_uses"] == 144 and data["snr_db"] == 30.0


def test_channel_low_snr_misspells_and_is_reproducible(capsys):
    args = ("channel", "--text", "a brown dog runs across the field", "--snr", "0", "--seed", "5")
    first, second = run_json(capsys, *args), run_json(capsys, *args)
    assert first == second
    assert first["received"] != first["sent"] and first["bit_errors"] > 0
    assert first["ber"] == pytest.approx(first["bit_errors"] / first["bits"])


def test_ber_json_uncoded_matches_theory(capsys):
    data = run_json(
        capsys, "ber", "--modulation", "bpsk", "--fec", "none", "--snr", "2", "--bits", "300000"
    )
    assert data["bits"] == 300000 and data["bler"] is None
    assert data["channel_uses"] == 300000
    assert data["ber"] == pytest.approx(data["ber_theory_uncoded"], rel=0.1)


def test_ber_json_ldpc_reports_bler(capsys):
    data = run_json(
        capsys,
        "ber",
        "--modulation",
        "16qam",
        "--fec",
        "ldpc",
        "--snr",
        "6",
        "--bits",
        "20000",
        "--block-bits",
        "1000",
    )
    assert data["bits"] == 20000 and data["blocks"] == 20
    assert data["bler"] > 0.3 and data["ber"] > 0
    assert data["channel_uses"] == 20 * 500


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["channel", "--text", "x", "--snr", "nan"], "finite"),
        (["channel", "--text", "x", "--snr", "1", "--modulation", "8psk"], "bpsk, qpsk"),
        (
            ["channel", "--text", "x", "--snr", "1", "--fec", "ldpc", "--code-rate", "1.2"],
            "between 0 and 1",
        ),
        (["ber", "--modulation", "bpsk", "--fec", "none", "--snr", "1", "--bits", "0"], "--bits"),
    ],
)
def test_errors_are_one_line_without_traceback(capsys, argv, message):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert message in captured.err and "Traceback" not in captured.err
    assert len([line for line in captured.err.splitlines() if line.strip()]) == 1


@pytest.mark.slow
def test_console_script_version_and_error_exit_code():
    version = subprocess.run(
        [sys.executable, "-m", "multisc.cli", "--version"], capture_output=True, text=True
    )
    assert version.returncode == 0 and __version__ in version.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "multisc.cli", "channel", "--text", "x", "--snr", "inf"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "finite" in bad.stderr


def test_jscc_train_then_eval_and_resume(capsys, tmp_path):
    out = tmp_path / "ckpt"
    args = [
        "jscc",
        "train",
        "--data",
        "samples",
        "--snr",
        "10",
        "--ratio",
        "1/12",
        "--out",
        str(out),
        "--steps",
        "4",
        "--batch",
        "2",
        "--crop",
        "16",
    ]
    first = run_json(capsys, *args)
    assert first["channels"] == 8 and first["steps"] == 4 and first["resumed_from_step"] == 0
    assert (out / "model.safetensors").is_file() and (out / "config.json").is_file()
    args[args.index("--steps") + 1] = "6"
    assert run_json(capsys, *args)["resumed_from_step"] == 4
    small = tmp_path / "small.png"
    sample_photos()[1][1].resize((64, 48)).save(small)
    rows = run_json(
        capsys,
        "jscc",
        "eval",
        "--checkpoint",
        str(out),
        "--images",
        str(small),
        "--snr",
        "0",
        "--snr",
        "20",
    )
    assert [r["snr_db"] for r in rows["results"]] == [0.0, 20.0]
    assert rows["results"][0]["channel_uses_per_image"] > 0


@pytest.mark.parametrize("ratio", ["1/0", "3/2"])
def test_jscc_bad_ratio_is_a_clear_error(capsys, tmp_path, ratio):
    assert (
        main(
            [
                "jscc",
                "train",
                "--data",
                "samples",
                "--snr",
                "10",
                "--ratio",
                ratio,
                "--out",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )
    assert "ratio" in capsys.readouterr().err


def test_jscc_missing_data_folder(capsys, tmp_path):
    assert (
        main(
            [
                "jscc",
                "train",
                "--data",
                str(tmp_path / "none"),
                "--snr",
                "10",
                "--ratio",
                "1/6",
                "--out",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )
    assert "neither" in capsys.readouterr().err


def test_models_list_reports_the_tiny_set_available(capsys, tiny_models, tmp_path):
    listing = run_json(capsys, "models", "list", "--models", str(tiny_models))
    assert isinstance(listing, dict) and listing["models_dir"] == str(tiny_models)
    by_name = {row["name"]: row for row in listing["components"]}
    from multisc.testing import PAPER_SET

    for name in PAPER_SET:
        assert by_name[name]["available"], name
        assert by_name[name]["source"] == str(tiny_models / name)
    empty = {
        row["name"]: row["available"]
        for row in run_json(capsys, "models", "list", "--models", str(tmp_path))["components"]
    }
    assert not any(v for k, v in empty.items() if k != "lpips")


def test_models_pull_without_network_is_one_clear_error(capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["models", "pull", "clip"]) == 2
    err = capsys.readouterr().err
    assert "could not download 'clip'" in err and "Traceback" not in err
    assert main(["models", "pull", "nonsense"]) == 2
    err = capsys.readouterr().err
    assert all(name in err for name in ("segmenter", "captioner", "llava-1.5-7b", "lcm_lora_sd15"))


@pytest.mark.slow
def test_transmit_json_fields_and_saved_image(capsys, tiny_models, trained_jscc, tmp_path, photo):
    image = tmp_path / "photo.png"
    photo.save(image)
    data = run_json(
        capsys,
        "transmit",
        str(image),
        "--scheme",
        "multisc",
        "--snr",
        "30",
        "--models",
        str(tiny_models),
        "--steps",
        "2",
        "--out",
        str(tmp_path / "r.png"),
    )
    for field in (
        "scheme",
        "snr_db",
        "channel_uses",
        "failed",
        "texts_sent",
        "texts_received",
        "texts_corrected",
        "metrics",
    ):
        assert field in data
    assert len(data["texts_sent"]) == 4 and data["texts_received"] == data["texts_sent"]
    assert data["metrics"]["psnr"] > 0 and data["metrics"]["bleu"] is not None
    from multisc.models import is_available

    # LPIPS needs AlexNet's weights: scored when this machine has them, else said skipped
    if is_available("lpips"):
        assert data["metrics"]["lpips"] is not None and "lpips" not in data["metrics_skipped"]
    else:
        assert data["metrics"].get("lpips") is None and "lpips" in data["metrics_skipped"]
    from PIL import Image

    assert Image.open(tmp_path / "r.png").size == photo.size
    jscc = run_json(
        capsys,
        "transmit",
        str(image),
        "--scheme",
        "deep_jscc",
        "--snr",
        "5",
        "--checkpoint",
        str(trained_jscc[0]),
    )
    assert jscc["channel_uses"] == 160 * 120 * 3 // 6 and jscc["texts_sent"] == []
    bpg = run_json(
        capsys, "transmit", str(image), "--scheme", "bpg_ldpc", "--snr", "-3", "--ratio", "1/12"
    )
    assert bpg["failed"] is True and bpg["channel_uses"] == 160 * 120 * 3 // 12
    # no --checkpoint: the shipped checkpoints, the one whose ratio fits the budget
    shipped = run_json(
        capsys, "transmit", str(image), "--scheme", "deep_jscc", "--snr", "5", "--ratio", "1/24"
    )
    assert shipped["channel_uses"] == 160 * 120 * 3 // 24 and shipped["details"]["ratio"] == "1/24"


def test_jscc_list_shows_every_shipped_checkpoint_and_its_numbers(capsys):
    rows = run_json(capsys, "jscc", "list")["checkpoints"]
    ratios = ("1/6", "1/12", "1/24", "1/48")
    assert [(r["ratio"], r["fading"]) for r in rows] == [
        (ratio, fading) for fading in ("awgn", "rayleigh") for ratio in ratios
    ]
    for row in rows:
        assert row["train_snr_db"] == [0.0, 20.0] and row["steps"] >= 2000
        assert row["psnr_db"]["20"] > row["psnr_db"]["0"] > 15.0


def test_transmit_bad_scheme_and_missing_weights(capsys, tmp_path, photo):
    image = tmp_path / "photo.png"
    photo.save(image)
    assert main(["transmit", str(image), "--scheme", "jpeg", "--snr", "3"]) == 2
    assert "choose one of multisc" in capsys.readouterr().err
    assert (
        main(
            ["transmit", str(image), "--scheme", "vlm_csc", "--snr", "3", "--models", str(tmp_path)]
        )
        == 2
    )
    assert "not available" in capsys.readouterr().err


@pytest.mark.slow
def test_corrector_pairs_train_eval(capsys, tmp_path, tiny_models):
    texts = tmp_path / "texts.txt"
    texts.write_text(
        "\n".join(
            [
                "a dog runs on the grass",
                "two people ride bicycles",
                "a red boat on a calm lake",
                "x" * 30,
            ]
            * 3
        )
    )
    pairs = tmp_path / "pairs.jsonl"
    made = run_json(
        capsys,
        "corrector",
        "pairs",
        "--texts",
        str(texts),
        "--snr",
        "2:6",
        "--out",
        str(pairs),
        "--per-text",
        "3",
        "--heldout",
        "0.5",
        "--max-chars",
        "25",
    )
    assert made["pairs"] == 36 and made["truncated"] == 3 and made["heldout"] > 0
    trained = run_json(
        capsys,
        "corrector",
        "train",
        "--pairs",
        str(pairs),
        "--out",
        str(tmp_path / "tuned"),
        "--base",
        str(tiny_models / "corrector"),
        "--steps",
        "3",
        "--batch",
        "4",
        "--device",
        "cpu",
    )
    assert trained["steps"] == 3 and (tmp_path / "tuned" / "config.json").is_file()
    evaluated = run_json(
        capsys,
        "corrector",
        "eval",
        "--pairs",
        str(pairs),
        "--corrector",
        "symspell",
        "--corrector",
        str(tmp_path / "tuned"),
    )
    names = {row["corrector"] for row in evaluated["results"]}
    assert names == {"none", "symspell", "tuned"}
    cer = {row["corrector"]: row["cer"] for row in evaluated["results"]}
    assert cer["none"] > 0.0  # the pairs are noisy
    assert cer["symspell"] < cer["none"]  # a dictionary corrector repairs some of it
    from pathlib import Path

    assert Path(evaluated["plot"]).is_file()


@pytest.mark.parametrize("command", [["models", "list"], ["models", "doctor"], ["schemes", "list"]])
def test_listing_commands_print_one_json_object(capsys, tiny_models, command):
    """docs/cli.md: every --json is one JSON object (a list is wrapped in one)."""
    args = [*command] + (["--models", str(tiny_models)] if command[0] == "models" else [])
    assert isinstance(run_json(capsys, *args), dict)


@pytest.mark.parametrize("scheme", ["bpg_ldpc", "deep_jscc"])
def test_transmit_gives_a_baseline_the_budget_run_gives_it(capsys, photo, tmp_path, scheme):
    """Without --ratio, as `multisc run`: multisc's channel uses where its weights are here,
    else 1/24 of H·W·3 (said on one line); bpg_ldpc failed and deep_jscc took 1/6."""
    image = tmp_path / "photo.png"
    photo.save(image)
    (tmp_path / "empty").mkdir()
    argv = ["transmit", str(image), "--scheme", scheme, "--snr", "10",
            "--models", str(tmp_path / "empty"), "--json"]  # fmt: skip
    assert main(argv) == 0
    captured = capsys.readouterr()
    budget = photo.width * photo.height * 3 / 24
    assert 0 < json.loads(captured.out)["channel_uses"] <= budget
    assert "ratio 1/24 of H·W·3" in " ".join(captured.err.split())


def test_the_terminal_summary_says_when_results_come_from_tiny_models(capsys):
    from multisc.cli.run import _say_stand_ins

    tiny = {"components": json.dumps({"corrector": {"weights": {"model.safetensors": 1000}}})}
    _say_stand_ins(tiny)
    said = " ".join(capsys.readouterr().err.split())
    assert "tiny random stand-in models (corrector)" in said
    _say_stand_ins({"components": "{}"})
    assert capsys.readouterr().err == ""


def test_stand_ins_are_named_as_such_and_verify_differs_says_what_to_do(capsys, tiny_models):
    listing = run_json(capsys, "models", "list", "--models", str(tiny_models))
    rows = {row["name"]: row for row in listing["components"]}
    assert rows["captioner"]["available"] and rows["captioner"]["stand_in"]
    assert rows["segmenter"]["stand_in"]  # real architecture, but not the published file
    assert not rows["lpips"]["available"] and not rows["lpips"]["stand_in"]
    doctor = run_json(capsys, "models", "doctor", "--models", str(tiny_models), "--verify")
    rows = {row["name"]: row for row in doctor["components"]}
    captioner = rows["captioner"]
    assert captioner["verify"] == {"model.safetensors": "differs"}
    assert "random stand-in" in captioner["note"] and "not the published" in captioner["note"]
    assert captioner["action"].startswith(f"replace {tiny_models / 'captioner'}")


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["run", "--snr", "0,3,,6"], "--snr '0,3,,6' has an empty item"),
        (["run", "--snr", "0,3,"], "--snr '0,3,' has an empty item"),
        (["run", "--schemes", "multisc,,bpg_ldpc"], "--schemes 'multisc,,bpg_ldpc' has an empty"),
        (["channel", "--text", "hi", "--snr", "3", "--channel", "rayleig"],
         "--channel 'rayleig' is not one of awgn, rayleigh, nr; did you mean 'rayleigh'?"),
    ],
)  # fmt: skip
def test_an_empty_list_item_or_a_mistyped_channel_is_one_line_naming_its_flag(args, said, capsys):
    from multisc.cli import main

    assert main(args) == 2
    err = capsys.readouterr().err
    assert said in err and len(err.strip().splitlines()) == 1


def test_transmit_says_its_results_come_from_stand_ins_and_clips_long_texts(
    capsys, tiny_models, tmp_path, photo
):
    from multisc.cli import main
    from multisc.cli.transmit import TEXT_CELL, _clipped

    image = tmp_path / "photo.png"
    photo.save(image)
    args = ["transmit", str(image), "--scheme", "vlm_csc", "--snr", "6", "--models",
            str(tiny_models), "--steps", "2", "--size", "32"]  # fmt: skip
    payload = run_json(capsys, *args)
    assert payload["stand_ins"] == ["vlm_captioner", "generator"]
    assert payload["parts"] == {"vlm_captioner": "blip", "generator": "sd15"}
    assert main(args) == 0
    printed = capsys.readouterr()
    assert "random stand-in models (vlm_captioner, generator)" in printed.err
    assert "vlm_captioner" in printed.out and "blip" in printed.out
    assert _clipped("x" * 500) == "x" * (TEXT_CELL - 1) + "…" and _clipped("short") == "short"


def test_no_help_shows_a_type_beside_an_on_off_flag():
    """``--json``, ``--verify``, ``--no-download``...: flags take no value, and their help
    shows none (typer's default prints ``<bool>`` beside them)."""
    from typer.testing import CliRunner

    from multisc.cli import app

    commands = [[], ["run"], ["transmit"], ["models", "doctor"], ["models", "make-random"],
                ["schemes", "list"], ["segmenter", "eval"], ["captioner", "eval"]]  # fmt: skip
    for command in commands:
        done = CliRunner().invoke(app, [*command, "--help"], terminal_width=200)
        assert done.exit_code == 0, command
        assert "--json" in done.output or not command, command
        assert "<bool>" not in done.output, command
