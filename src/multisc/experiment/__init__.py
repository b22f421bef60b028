"""SNR sweeps: config, runner, result store, stage cache, executors."""
