"""User errors are one line on stderr with exit code 2, never a traceback, and come before
any work."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from multisc.cli import main


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["channel", "--text", "a", "--snr=-4000"], "within ±200 dB"),
        (["channel", "--text", "a", "--snr", "0", "--seed", "99999999999999999999999"], "seed"),
        (["channel", "--text", "a", "--snr", "0", "--seed=-1"], "seed"),
    ],
)
def test_out_of_range_numbers_are_one_clear_error(capsys, args, message):
    code, _, err = run(capsys, *args)
    assert code == 2 and message in err and "Traceback" not in err


def test_transmit_refuses_bad_steps_and_outputs_before_any_work(capsys, tmp_path, photo):
    image = tmp_path / "photo.png"
    photo.save(image)
    base = ["transmit", str(image), "--scheme", "bpg_ldpc", "--snr", "3", "--ratio", "1/12"]
    for extra, message in (
        (["--steps", "0"], "option steps: 0 is not an integer in"),
        (["--steps", "-3"], "option steps: -3 is not an integer in"),
        (["--out", str(tmp_path / "x.jpgx")], "extension '.jpgx'"),
        (["--out", str(tmp_path)], "is a directory"),
    ):
        code, _, err = run(capsys, *base, *extra)
        assert code == 2 and message in err, (extra, err)


def test_json_output_is_strict_json(capsys, tmp_path):
    import math

    from multisc.cli import _finite

    assert _finite({"a": [math.nan, 1.0, math.inf], "b": (2, -math.inf)}) == {
        "a": [None, 1.0, None],
        "b": [2, None],
    }
    code, out, _ = run(capsys, "channel", "--text", "a dog", "--snr", "3", "--json")
    assert code == 0 and json.loads(out, parse_constant=lambda c: pytest.fail(c))["sent"] == "a dog"


def test_configs_and_stores_that_are_not_what_they_claim(capsys, tmp_path):
    config = tmp_path / "latin1.yaml"
    config.write_bytes("images: caf\xe9\n".encode("latin-1"))
    code, _, err = run(capsys, "run", str(config))
    assert code == 2 and "not UTF-8" in err
    many = tmp_path / "many.yaml"
    many.write_text(json.dumps({"snr_db": list(range(2000))}))
    code, _, err = run(capsys, "run", str(many))
    assert code == 2 and "at most 1000" in err
    fake = tmp_path / "run"
    fake.mkdir()
    (fake / "results.sqlite").write_bytes(b"this is not a database" * 100)
    code, _, err = run(capsys, "report", str(fake))
    assert code == 2 and "not a multisc result store" in err


@pytest.mark.parametrize("command", ["report", "compare"])
def test_table_metrics_flags_are_checked_before_the_run_is_read(capsys, tmp_path, command):
    missing = [str(tmp_path / "nowhere")] * (1 if command == "report" else 2)
    out = [] if command == "report" else ["--out", str(tmp_path / "cmp")]
    for flag, message in (
        ("psnr,lpipz", "--table-metrics: 'lpipz' is not a metric of the report; did you mean "
         "'lpips'?"),
        (" , ", "--table-metrics: name at least one metric"),
    ):  # fmt: skip
        code, _, err = run(capsys, command, *missing, *out, "--table-metrics", flag)
        assert code == 2 and message in err and "Traceback" not in err, err
        assert "nowhere" not in err  # the flag first: nothing read


def test_damaged_jscc_checkpoints_are_one_clear_error(trained_jscc, tmp_path):
    import shutil

    from multisc.codecs.jscc import JSCCConfig, load_checkpoint
    from multisc.codecs.jscc_training import STATE_FILE, train_jscc
    from multisc.errors import InvalidInputError

    copy = tmp_path / "ckpt"
    shutil.copytree(trained_jscc[0], copy)
    (copy / STATE_FILE).write_bytes(b"garbage, not a training state")
    with pytest.raises(InvalidInputError, match="not a training state"):
        train_jscc([__import__("PIL.Image").Image.new("RGB", (64, 64))], JSCCConfig("1/6", 10.0),
                   copy, steps=400)  # fmt: skip
    weights = copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(InvalidInputError, match="truncated"):
        load_checkpoint(copy)


def test_usage_errors_are_one_line_and_ber_defaults_to_uncoded(capsys):
    code, _, err = run(capsys, "ber", "--bogus")
    assert code == 2 and err.strip().count("\n") == 0
    assert "No such option: --bogus" in err and "multisc ber --help" in err
    code, out, _ = run(
        capsys, "ber", "--modulation", "bpsk", "--snr", "6", "--bits", "2000", "--json"
    )
    assert code == 0 and json.loads(out)["bler"] is None  # --fec none, as `channel` defaults


def test_received_text_that_looks_like_markup_is_printed_as_it_is(capsys):
    from multisc.cli import _emit

    _emit({"received": "a [/] dog [bold]runs", "n": None}, False, "t")
    printed = capsys.readouterr().out
    assert "a [/] dog [bold]runs" in printed and "—" in printed


def test_run_help_shows_the_defaults(capsys):
    from multisc.experiment.config import RunConfig

    assert main(["run", "--help"]) == 0
    shown = " ".join(capsys.readouterr().out.replace("│", " ").split())  # unwrap the panel
    defaults = RunConfig()
    assert f"(default: {defaults.images})" in shown and f"{defaults.out} for the defaults" in shown
    assert f"(default: {defaults.prepare_batch})" in shown and "(default: auto)" in shown


def test_library_loading_bars_and_advice_stay_off_the_terminal(tiny_models, monkeypatch):
    import logging

    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as hf_logging

    from multisc.cli import _quiet_libraries
    from multisc.models import loading

    monkeypatch.setattr(loading, "_quieted", False)
    monkeypatch.delenv(loading.QUIET_ENV, raising=False)
    _quiet_libraries()  # the command line asks; the first load does it
    loading.load_pretrained("clip", lambda directory, **kwargs: None, tiny_models)
    assert diffusers_logging.get_verbosity() == logging.ERROR
    assert hf_logging.get_verbosity() == logging.ERROR
    assert not hf_logging.is_progress_bar_enabled()
    assert logging.getLogger("accelerate").level == logging.ERROR
    from huggingface_hub.utils import are_progress_bars_disabled

    assert not are_progress_bars_disabled()  # downloads keep their progress bars


@pytest.mark.parametrize(
    "command", [["models", "list", "--json"], ["schemes", "list", "--json"], ["--version"]]
)
def test_the_command_line_answers_without_importing_torch_or_transformers(command):
    import json
    import subprocess
    import sys

    code = (
        "import sys; from multisc.cli import main\n"
        f"try:\n    main({command!r})\nexcept SystemExit:\n    pass\n"
        "print([m for m in ('torch', 'transformers', 'diffusers', 'sionna') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
    if command[0] == "schemes":  # the listing is whole: every scheme, corrector, slice link
        listing = json.loads(done.stdout.strip().rsplit("\n", 1)[0])
        assert [s["name"] for s in listing["schemes"]][:5] == [
            "multisc", "single_text", "vlm_csc", "bpg_ldpc", "deep_jscc"
        ]  # fmt: skip
        assert {c["name"] for c in listing["correctors"]} >= {"bart", "symspell", "none"}
        assert {s["name"] for s in listing["slice_links"]} >= {"analog", "jscc", "hevc-ldpc"}


@pytest.mark.slow
def test_threads_pin_torch_and_every_child_and_do_not_change_the_experiment(monkeypatch):
    import subprocess
    import sys

    import torch

    from multisc.devices import THREAD_VARIABLES, pin_threads
    from multisc.errors import InvalidInputError
    from multisc.experiment.config import load_config

    for name in THREAD_VARIABLES:
        monkeypatch.setenv(name, os.environ.get(name, ""))  # restored after the test
    before = torch.get_num_threads()
    try:
        assert pin_threads(1) == 1 and torch.get_num_threads() == 1
        child = subprocess.run(
            [sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert child.stdout.strip() == "1"  # OMP_NUM_THREADS reached the child
    finally:
        torch.set_num_threads(before)
    with pytest.raises(InvalidInputError, match="threads"):
        pin_threads(0)
    assert load_config(threads=1).digest() == load_config().digest()
    with pytest.raises(InvalidInputError, match="--threads"):
        load_config(threads=0)


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["run", "--schemes", "multsc"], "did you mean 'multisc'?"),
        (["run", "--models", "no-such-folder"], "no-such-folder does not exist"),
        (["run", "--snr", "0", "3", "6"], "--snr takes a comma-separated list"),
    ],
)
def test_run_errors_come_before_torch_is_imported(argv, said):
    """A typo is refused before any heavy import (it took 10-60 s): the process that says
    so never imported torch, transformers or Sionna."""
    import subprocess
    import sys

    code = (
        "import sys; from multisc.cli import main\n"
        f"code = main({argv!r})\n"
        "print([m for m in ('torch', 'transformers', 'sionna') if m in sys.modules], code)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().splitlines()[-1] == "[] 2", done.stdout + done.stderr[-2000:]
    assert said in " ".join(done.stderr.split())


def _terminal(argv: list[str], columns: int = 100) -> list[str]:
    """What a command prints on a real terminal ``columns`` wide (a pty), colours removed."""
    import fcntl
    import os
    import pty
    import re
    import struct
    import subprocess
    import sys
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {**os.environ, "COLUMNS": str(columns), "TERM": "xterm"}
    process = subprocess.Popen(
        [sys.executable, "-m", "multisc.cli", *argv], stdout=slave, stderr=slave, env=env
    )
    os.close(slave)
    data = b""
    while True:
        try:
            chunk = os.read(master, 1 << 16)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    process.wait(timeout=120)
    os.close(master)
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", data.decode()).splitlines()


def test_help_and_listings_fit_a_100_column_terminal():
    listing = _terminal(["schemes", "list"])
    assert listing and max(len(line) for line in listing) <= 100
    help_text = _terminal(["--help"])
    assert max(len(line) for line in help_text) <= 100
    channel = next(line for line in help_text if "channel " in line and "Send one text" in line)
    assert channel.rstrip(" │").endswith("the 5G NR")  # a paragraph, wrapped by the terminal


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        ({"coherence": 0}, "--coherence 0: input should be greater than or equal to 1"),
        ({"coherence": 10_000_000}, "--coherence 10000000: input should be less than"),
        ({"csi": "maybe"}, "--csi 'maybe': input should be 'estimated' or 'perfect'"),
        ({"csi": "perfekt"}, "did you mean 'perfect'?"),
    ],
)
def test_a_bad_channel_flag_is_named_with_the_value_given(flags, said):
    from multisc.cli.common import channel_from_flags
    from multisc.errors import InvalidInputError

    with pytest.raises(InvalidInputError) as caught:
        channel_from_flags(**flags)
    assert said in str(caught.value) and "invalid channel flags" not in str(caught.value)


@pytest.mark.parametrize("option", ["ip_scale", "link_snr_spread_db", "link_outage", "steps"])
@pytest.mark.parametrize("where", ["options", "per scheme", "vary"])
def test_an_integer_past_float_range_is_one_line_naming_the_option(option, where):
    """1 followed by 400 zeros (YAML reads it as an int): no OverflowError traceback."""
    from multisc.errors import InvalidInputError
    from multisc.experiment.config import load_config

    huge = 10**400
    settings = {
        "options": {"options": {option: huge}},
        "per scheme": {"options": {"multisc": {option: huge}}},
        "vary": {"vary": {option: [huge]}},
    }[where]
    with pytest.raises(InvalidInputError) as caught:
        load_config(schemes=["multisc"], out="unused-run", **settings)
    said = str(caught.value)
    assert option in said and "about 400 digits" in said and "0000000000" not in said


def test_huge_link_offsets_are_one_line_too():
    from multisc.errors import InvalidInputError
    from multisc.schemes.options import SchemeOptions

    with pytest.raises(InvalidInputError, match="link_snr_offsets_db: a number too large"):
        SchemeOptions(link_snr_offsets_db=[0, 10**400, 0, 0])


_ANY = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.one_of(st.floats(allow_nan=True), st.integers(), st.text(max_size=3),
                       st.booleans()), max_size=6),
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(option=st.sampled_from(["link_snr_offsets_db", "link_snr_spread_db", "link_outage"]),
       value=_ANY)  # fmt: skip
def test_any_four_links_value_is_accepted_or_one_line(option, value):
    """Lists of the wrong length, NaN, strings, booleans, 1.0 outage, huge integers: the
    four-links options take a value or refuse it with one InvalidInputError naming them."""
    from multisc.errors import InvalidInputError
    from multisc.schemes.options import SchemeOptions

    try:
        SchemeOptions(**{option: value})
    except InvalidInputError as exc:
        assert f"option {option}" in str(exc)
