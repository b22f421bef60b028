"""Under ``LC_ALL=C`` without Python's UTF-8 mode (an ASCII terminal), a run whose image and
folder names hold a non-ASCII letter runs and writes its report: the files are UTF-8, and
what the terminal cannot show is printed escaped (``\\xfc``), never a UnicodeEncodeError."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from multisc.data.sources import sample_photos


@pytest.mark.slow
def test_an_ascii_terminal_runs_and_reports_non_ascii_names(tmp_path):
    images = tmp_path / "imágenes"
    images.mkdir()
    sample_photos()[0][1].resize((64, 48)).save(images / "café-ü.png")
    out = tmp_path / "rün"
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0"}
    env.pop("PYTHONIOENCODING", None)
    done = subprocess.run(
        [sys.executable, "-m", "multisc.cli", "run", "--images", str(images), "--schemes",
         "bpg_ldpc", "--snr", "9", "--out", str(out)],
        env=env, capture_output=True, timeout=600,
    )  # fmt: skip
    text = (done.stdout + done.stderr).decode("ascii", "replace")
    assert done.returncode == 0, text[-3000:]
    assert "UnicodeEncodeError" not in text and "r\\xfcn" in text
    assert (out / "report.html").is_file()
    (out / "report.html").read_bytes().decode("utf-8")  # UTF-8, whatever the locale
