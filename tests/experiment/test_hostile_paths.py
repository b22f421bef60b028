"""Hostile paths and files: every folder multisc cannot write, every file it cannot read
and every cluster address nothing answers at is one line (exit 2), never a traceback; and
reading another run (``multisc compare``) never writes it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from multisc.cli import main

pytestmark = pytest.mark.slow

BPG = ["--schemes", "bpg_ldpc", "--snr", "6", "--device", "cpu"]


def said(capsys) -> str:
    return " ".join(capsys.readouterr().err.split())


@pytest.fixture(scope="module")
def two_runs(image_folder, tmp_path_factory) -> tuple[Path, Path]:
    """Two finished runs on the same images and SNR (seeds differ in nothing else)."""
    root = tmp_path_factory.mktemp("runs")
    for name, budget in (("a", "1/24"), ("b", "1/12")):
        config = root / f"{name}.yaml"
        config.write_text(f"options: {{budget: '{budget}'}}\n")
        args = ["run", str(config), "--images", str(image_folder), *BPG]
        assert main([*args, "--out", str(root / name)]) == 0
    return root / "a", root / "b"


@contextlib.contextmanager
def unwritable(folder: Path, how: str):
    """``folder`` made unwritable for real: ``chmod 500`` (not binding root), or a
    read-only file system mounted there (root only)."""
    folder.mkdir()
    if how == "chmod 500":
        if os.geteuid() == 0:
            pytest.skip("root writes through chmod 500: the read-only mount covers root")
        folder.chmod(0o500)
        try:
            yield
        finally:
            folder.chmod(0o700)
        return
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)],
        capture_output=True, text=True,
    )  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a read-only file system here: {mounted.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.parametrize("how", ["chmod 500", "read-only mount"])
@pytest.mark.parametrize("command", ["run", "compare"])
def test_a_folder_that_cannot_be_made_is_one_line(
    command, how, two_runs, image_folder, tmp_path, capsys
):
    parent = tmp_path / "locked"
    with unwritable(parent, how):
        out = parent / "new"
        if command == "run":
            code = main(["run", "--images", str(image_folder), *BPG, "--out", str(out)])
        else:
            code = main(["compare", *map(str, two_runs), "--out", str(out)])
        text = said(capsys)
    reason = "permission denied" if how == "chmod 500" else "the file system is read-only"
    assert code == 2 and f"cannot make --out {out}: {reason}" in text, text
    assert "Traceback" not in text


@pytest.mark.parametrize("command", ["run", "compare"])
def test_out_at_a_dangling_link_is_refused_and_its_target_never_made(
    command, two_runs, image_folder, tmp_path, capsys
):
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "nowhere")
    if command == "run":
        code = main(["run", "--images", str(image_folder), *BPG, "--out", str(link)])
    else:
        code = main(["compare", *map(str, two_runs), "--out", str(link)])
    text = said(capsys)
    assert code == 2 and "which does not exist" in text and "remove the link" in text, text
    assert not (tmp_path / "nowhere").exists()


def test_an_unreadable_image_with_a_non_utf8_name_is_a_failure_the_report_shows(
    image_folder, tmp_path, capsys
):
    images = tmp_path / "images"
    images.mkdir()
    first = sorted(image_folder.glob("*.png"))[0]
    (images / first.name).write_bytes(first.read_bytes())
    with open(os.fsencode(images) + b"/odd\xfe.png", "wb") as handle:
        handle.write(b"not a png")  # a name that is not UTF-8, a file that is not an image
    out = tmp_path / "run"
    code = main(["run", "--images", str(images), *BPG, "--out", str(out)])
    text = said(capsys)
    assert code == 0 and "Traceback" not in text, text
    page = (out / "report.html").read_text(encoding="utf-8")  # strict UTF-8
    assert "odd\\xfe.png" in page
    failures = (out / "failures.json").read_text(encoding="utf-8")
    assert "odd\\\\xfe.png" in failures and "\\udcfe" not in failures


def test_json_nested_100000_deep_is_refused_as_damaged(tiny_models, tmp_path, capsys):
    """A safetensors header and an export record nested 100,000 deep: the weights are
    damaged (doctor says how), the record is ignored; never a RecursionError."""
    import shutil

    models = tmp_path / "models"
    shutil.copytree(tiny_models / "corrector", models / "corrector")
    weights = models / "corrector" / "model.safetensors"
    size = weights.stat().st_size
    header = b"[" * 50_000 + b"]" * 50_000
    weights.write_bytes((len(header).to_bytes(8, "little") + header).ljust(size, b"\0"))
    (models / "corrector" / "multisc_export.json").write_text(
        '{"a":' * 100_000 + "1" + "}" * 100_000
    )
    capsys.readouterr()
    assert main(["models", "doctor", "--models", str(models), "--json"]) == 0
    import json

    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["components"]}
    row = rows["corrector"]
    assert row["files"]["model.safetensors"] == "damaged" and not row["available"]
    assert "nested too deeply" in row["note"] and row["commit"] is None


def test_a_ray_address_where_nothing_listens_is_one_line_within_seconds(
    image_folder, tmp_path, capsys
):
    pytest.importorskip("ray")
    import socket

    with socket.socket() as holder:  # a port that was free: nothing listens on it now
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
    args = ["run", "--images", str(image_folder), *BPG, "--out", str(tmp_path / "run")]
    code = main([*args, "--executor", "ray", "--address", f"127.0.0.1:{port}"])
    text = said(capsys)
    assert code == 2 and f"--address 127.0.0.1:{port}: nothing answers there" in text, text


def _snapshot(folder: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every entry under ``folder``: (size, mtime in ns, content of files)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        info = path.lstat()
        content = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
        out[str(path.relative_to(folder))] = (info.st_size, info.st_mtime_ns, content)
    return out


def test_compare_never_writes_its_inputs_even_with_rows_in_a_write_ahead_log(
    two_runs, tmp_path, capsys
):
    import shutil

    a, b = two_runs
    killed = tmp_path / "killed"  # a run whose writer died: rows still in its -wal
    shutil.copytree(a, killed)
    killer = (  # a writer that dies without closing: its rows stay in the log
        "import os, sqlite3, sys; db = sqlite3.connect(sys.argv[1]); "
        "db.execute('PRAGMA wal_autocheckpoint=0'); "
        "db.execute('UPDATE results SET channel_uses = channel_uses + 1'); db.commit(); "
        "os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", killer, str(killed / "results.sqlite")], check=True)
    wal = killed / "results.sqlite-wal"
    assert wal.stat().st_size > 0
    before = {run: _snapshot(run) for run in (a, b, killed)}
    printed = subprocess.run(  # a process of its own: the log is left as a killed run leaves it
        [sys.executable, "-m", "multisc.cli", "compare", str(killed), str(b), "--out",
         str(tmp_path / "cmp"), "--json"],
        capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")},
    )  # fmt: skip
    assert printed.returncode == 0, printed.stderr[-2000:]
    assert main(["compare", str(a), str(b), "--out", str(tmp_path / "cmp2")]) == 0
    assert {run: _snapshot(run) for run in (a, b, killed)} == before
    from multisc.experiment.store import ResultStore

    store = ResultStore(killed / "results.sqlite", read_only=True)
    try:  # the log's rows are what was compared
        uses = {r["channel_uses"] for r in store.results()}
    finally:
        store.close()
    plain = ResultStore(a / "results.sqlite", read_only=True)
    try:
        assert uses == {r["channel_uses"] + 1 for r in plain.results()}
    finally:
        plain.close()


@pytest.mark.parametrize("where", ["a", "a/inside", "link-to-a", "."])
def test_compare_refuses_an_out_that_is_holds_or_lies_in_an_input(where, two_runs, capsys):
    a, b = two_runs
    link = a.parent / "link-to-a"
    if not link.exists():
        link.symlink_to(a, target_is_directory=True)
    before = _snapshot(a)
    code = main(["compare", str(a), str(b), "--out", str(a.parent / where)])
    text = said(capsys)
    assert code == 2 and "a comparison never writes where it reads" in text, text
    assert _snapshot(a) == before
