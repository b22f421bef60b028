"""Which deep JSCC checkpoints a run uses: configured, shipped, or trained on first use."""

from multisc.codecs.jscc import read_config, read_training
from multisc.codecs.jscc_shipped import shipped
from multisc.experiment.planning import plan_run


def test_a_run_uses_the_shipped_checkpoints_of_its_channel(fast_config):
    for fading in ("awgn", "rayleigh"):
        config, _ = fast_config(f"shipped-{fading}", jscc={}, fading=fading)
        said = []
        plan = plan_run(config, said.append)
        assert plan.jscc_checkpoint == {fading: [str(p) for p in shipped(fading)]}
        (chosen,) = plan.jscc_checkpoint.values()
        assert len(chosen) == 4 and not any("training" in line for line in said)
        assert {read_config(p).fading for p in chosen} == {fading}


def test_nr_channels_use_the_models_of_their_fading(fast_config):
    """Over NR, no fading runs AWGN's models and a fading profile Rayleigh's; a run over
    several channels plans each training channel's models once."""
    channels = [
        {"model": "awgn"},
        {"model": "nr", "tdl": "none", "prbs": 4, "mcs": 5},
        {"model": "nr", "tdl": "A", "prbs": 4, "mcs": 5},
    ]
    config, _ = fast_config("nr-plan", jscc={}, channel=channels)
    plan = plan_run(config, [].append)
    assert plan.jscc_checkpoint == {f: [str(p) for p in shipped(f)] for f in ("awgn", "rayleigh")}


def test_a_setting_no_checkpoint_ships_for_is_trained_once_and_cached(
    fast_config, tmp_path, monkeypatch
):
    monkeypatch.setenv("MULTISC_CACHE", str(tmp_path / "cache"))
    jscc = {"ratio": "1/48", "train_snr_db": 19, "steps": 3}  # the paper's training SNR
    config, _ = fast_config("paper-snr", jscc=jscc)
    said = []
    plan = plan_run(config, said.append)
    ((directory,),) = plan.jscc_checkpoint.values()
    assert directory.startswith(str(tmp_path / "cache" / "jscc"))
    assert read_config(directory).train_snr_db == 19.0 and read_training(directory)["done"] == 3
    assert any("no shipped checkpoint for k/n=1/48, 19 dB, awgn" in line for line in said)
    said.clear()
    assert plan_run(config, said.append).jscc_checkpoint == {"awgn": [directory]}
    assert not any("training" in line for line in said)  # cached: not trained again


def test_old_configs_keep_working(fast_config):
    """A config written before shipped checkpoints (ratio 1/6, one training SNR) still
    loads and means what it meant: that one model, trained on first use if need be."""
    config, _ = fast_config("old", jscc={"ratio": "1/6", "train_snr_db": 10.0, "steps": 2000})
    assert config.jscc.ratio == "1/6" and config.jscc.train_snr_db == 10.0
