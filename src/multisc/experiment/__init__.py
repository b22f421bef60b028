"""SNR sweeps, split by what each part does: ``config`` (the YAML, validated), ``planning``
(which schemes, downloads, checkpoints, budget), ``tasks`` (the units of work),
``prepare_cache`` (prepares on disk, safely), ``worker`` (tasks into rows), ``rundir``
(the run directory's files), ``store`` (SQLite results), ``executors`` (local, Ray) and
``sweep`` (``multisc run``: all of it, resumable)."""
