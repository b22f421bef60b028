import pytest

from multisc.errors import InvalidInputError
from multisc.experiment.config import PAPER_SNRS, load_config


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
        ("snrs: [1, 2]\n", "unknown key 'snrs'"),
        ("options:\n  stepz: 3\n", "unknown key 'options.stepz'"),
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
