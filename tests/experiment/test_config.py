import pytest

from multisc.errors import InvalidInputError
from multisc.experiment.config import load_config
from multisc.experiment.settings import PAPER_SNRS


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_defaults_are_the_paper_experiment():
    config = load_config()
    assert config.images == "samples" and config.snr_db == PAPER_SNRS
    assert config.schemes == ["multisc", "single_text", "vlm_csc", "bpg_ldpc", "deep_jscc"]
    assert config.options.ip_scale == 0.5 and config.options.rows == 2


def test_flags_override_the_file(tmp_path):
    path = write(tmp_path, "snr_db: [1, 2]\nseeds: 3\nout: a\n")
    config = load_config(path, seeds=None, out="b", snr_db=[5.0])
    assert (config.seeds, config.out, config.snr_db) == (3, "b", [5.0])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("snrs: [1, 2]\n", "unknown key 'snrs'; did you mean 'snr_db'[?]"),
        ("options:\n  stepz: 3\n", "unknown key 'options.stepz'; did you mean 'steps'[?]"),
        ("channel: {modle: awgn}\n", "unknown key 'channel.modle'; did you mean 'model'[?]"),
        ("snr_db: []\n", "SNR list is empty"),
        ("schemes: [multisc, jpeg]\n", "unknown scheme 'jpeg'"),
        ("seeds: 0\n", "seeds"),
        ("prepare_batch: 0\n", "prepare_batch"),
        ("- just\n- a list\n", "mapping"),
        ("snr_db: [1, \n", "not valid YAML"),
    ],
)
def test_bad_configs_are_clear_errors(tmp_path, text, message):
    with pytest.raises(InvalidInputError, match=message):
        load_config(write(tmp_path, text))


def test_digest_ignores_where_and_how_it_runs(tmp_path):
    a = load_config(out="x", executor="local", device="cpu", prepare_batch=1)
    b = load_config(out="y", executor="ray", device="auto", prepare_batch=8)
    assert a.digest() == b.digest()
    assert a.digest() != load_config(snr_db=[1.0]).digest()


def test_the_reports_words_and_tables_are_not_the_experiment():
    """A description or the tables' metrics change the report, not a number: the run keeps
    its folder (and a run from before either key existed resumes)."""
    plain = load_config()
    worded = load_config(description="Multi-SC on Kodak", table_metrics=["lpips", "psnr", "lpips"])
    assert worded.table_metrics == ["lpips", "psnr"]  # in the order given, once
    assert worded.digest() == plain.digest()
    assert not {"description", "table_metrics"} & set(plain.identity())


#: every setting a probe ran to "0 results" (or a crash) with, and what the one line says:
#: each option's type and range come from its registration and are checked at load
REFUSED = [
    ("options: {bpg_mcs: sometimes}", "option bpg_mcs: 'sometimes' is not one of fixed, auto"),
    ("options: {bpg_modulation: 8psk}", "option bpg_modulation: '8psk' is not one of"),
    ("options: {bpg_code_rate: 1.5}", r"bpg_code_rate: 1.5 is not a finite number in \[0.2"),
    ("options: {bpg_code_rate: .nan}", "bpg_code_rate: nan is not a finite number"),
    ("options: {text_modulation: 8psk}", "text_modulation: '8psk' is not one of bpsk"),
    ("options: {text_fec: turbo}", "text_fec: 'turbo' is not one of none, ldpc"),
    ("options: {text_code_rate: 0}", "text_code_rate: 0.0 is not a finite number"),
    ("options: {text_code_rate: .nan}", "text_code_rate: nan"),
    ("options: {slice_link: carrier-pigeon}", "slice_link: 'carrier-pigeon' is not one of"),
    ("options: {slice_hevc_quality: 1000}", r"slice_hevc_quality: 1000 is not an integer"),
    ("options: {budget: 0}", "budget: 0 is not 'match'"),
    ("options: {budget: -5}", "budget: -5 is not"),
    ("options: {budget: 1/0}", "budget: '1/0' is not"),
    ("options: {budget: abc}", "budget: 'abc' is not"),
    ("options: {budget: 1000/1}", "budget: '1000/1' is not"),
    ("budget_fallback: abc", "budget_fallback: 'abc' is not"),
    ("options: {generation_size: 7}", "generation_size: 7 is not None or a multiple of 8"),
    ("options: {generation_size: -64}", "generation_size: -64"),
    ("options: {generation_size: 100000}", "generation_size: 100000"),
    ("options: {generation_size: 0}", "generation_size: 0"),
    ("options: {segment_size: 1000000}", r"segment_size: 1000000 is not an integer in \[32"),
    ("options: {segment_size: 0}", "segment_size: 0"),
    ("options: {rows: 1000}", r"rows: 1000 is not an integer in \[1, 8\]"),
    ("options: {rows: 1000000000}", "rows: 1000000000"),
    ("options: {steps: 1000000000000}", r"steps: 1000000000000 is not an integer in"),
    ("snr_db: [500]", r"SNR 500 dB is outside \[-50, 100\] dB"),
    ("snr_db: [1.0e+300]", "SNR 1e[+]300 dB is outside"),
    ("jscc: {checkpoint: /etc}", "no deep JSCC checkpoint at /etc"),
    ("jscc: {checkpoint: /no/such/folder}", "'/no/such/folder' does not exist"),
    ("channel: {model: awgn, coherence: 1000000000000}", "less than or equal to 1000000"),
    ("channel: {model: rayleigh, coherence: 3000000000}", "less than or equal to 1000000"),
    ("device: meta", "device 'meta' is not auto, cpu, cuda or cuda:N"),
    ("channel: {model: nr, mcs: 0, prbs: 16}", "16 PRB.s. at MCS 0 .* Sionna's 5G LDPC can code"),
    ("channel: []", "the channel list is empty"),
    ("snr_db: [true]", r"snr_db: \[true\] is not a number \(true and false never are\)"),
    ("options: {guidance: .nan}", "guidance: nan is not a finite number"),
    ("options: {ip_scale: .nan}", "ip_scale: nan"),
    ("options: {ip_scale: .inf}", "ip_scale: inf"),
    ("options: {failure_color: [300, -1, 0]}", "failure_color: .* is not an RGB triple"),
    ("channel: {model: awgn, prbs: 4}", "prbs applies to model: nr only"),
    ("executor: ray\nray_address: http://head:8265", "ray address 'http://head:8265' is not"),
    ("options: {corrector: gpt}", "corrector: 'gpt' is not one of bart"),
    ("table_metrics: [psnr, lpipz]", "table_metrics: 'lpipz' is not a metric of the report; did "
     "you mean 'lpips'"),
    ("table_metrics: []", "table_metrics: name at least one metric"),
    ("table_metrics: [bleu2]", "'bleu2' is not a metric of the report"),
    ("table_metrics: psnr", "table_metrics: .* list"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "message"), REFUSED)
def test_every_setting_is_checked_at_load_with_one_line(tmp_path, text, message):
    with pytest.raises(InvalidInputError, match=message) as caught:
        load_config(write(tmp_path, text + "\n"))
    assert "\n" not in str(caught.value)


def test_a_deeply_nested_yaml_is_one_line(tmp_path):
    with pytest.raises(InvalidInputError, match=r"nested too deeply|not valid YAML"):
        load_config(write(tmp_path, "a: " + "[" * 50_000 + "]" * 50_000 + "\n"))


def test_the_checked_defaults_still_load_and_a_valid_nr_mcs_passes(tmp_path):
    config = load_config(write(tmp_path, "channel: {model: nr, mcs: 10, prbs: 16}\n"))
    assert config.channels()[0].mcs == 10
    assert load_config().options.budget == "match"


def test_a_config_run_with_changed_settings_gets_its_own_folder():
    """`multisc run configs/bandwidth.yaml --limit 1 --snr 0,12` must not occupy
    runs/bandwidth, where the full run of that config would then be refused; flags that
    change nothing the numbers depend on keep the config's folder."""
    from pathlib import Path

    from multisc.experiment.config import load_config

    path = Path(__file__).parents[2] / "configs" / "bandwidth.yaml"
    assert load_config(path).out == "runs/bandwidth"
    assert load_config(path, device="cpu", threads=1).out == "runs/bandwidth"
    quick = load_config(path, limit=1, snr_db=[0.0, 12.0])
    assert quick.out.startswith("runs/bandwidth-limit-snr_db-")
    assert quick.out.endswith(quick.digest()[:8])
    assert load_config(path, limit=1, out="somewhere").out == "somewhere"  # --out decides


def test_a_run_started_when_the_description_was_in_the_digest_resumes(tmp_path):
    """multisc 0.1.0 of 2026-12-05 hashed ``description`` into the digest: a run directory
    it started is this experiment's (resumed, not refused); another experiment's is not."""
    import hashlib
    import json

    from multisc.experiment.store import STORE_FILE, ResultStore, different_experiment
    from tests.experiment.test_crafted_store import _row

    config = load_config(description="Multi-SC on Kodak", table_metrics=["psnr"])
    identity = {**config.identity(), "description": "Multi-SC on Kodak"}  # as it was hashed
    then = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode())
    assert config.digests() == (config.digest(), then.hexdigest()[:16])
    assert then.hexdigest()[:16] != config.digest()
    store = ResultStore(tmp_path / STORE_FILE)
    store.add_results([_row()], store.start_run(then.hexdigest()[:16], "", {}, "cpu", {}))
    store.close()
    different_experiment(tmp_path, config.digests())  # resumed
    with pytest.raises(InvalidInputError, match="different experiment"):
        different_experiment(tmp_path, load_config(snr_db=[1.0]).digests())
