"""Where a Ray run would connect, refused in one line within seconds naming where the
address came from: a flag, RAY_ADDRESS, or ``auto`` with no cluster here; before the run
names, writes or plans anything, and before torch loads."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from multisc.errors import InvalidInputError
from multisc.experiment import addresses


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    ("flag", "env", "said"),
    [
        ("auto", None, "no Ray cluster is running on this machine"),
        ("127.0.0.1:{port}", None, "--address 127.0.0.1:{port}: nothing answers there"),
        (None, "127.0.0.1:{port}", "RAY_ADDRESS (environment) 127.0.0.1:{port}: nothing answers"),
        ("auto", "127.0.0.1:{port}", "RAY_ADDRESS (environment, for --address auto)"),
        (None, "garbage", "RAY_ADDRESS (environment) 'garbage' is not host:port"),
        ("a" * 64 + ".example:6379", None, "is not a host name"),
        ("a..b:6379", None, "is not a host name"),
    ],
)
def test_an_address_ray_could_not_join_is_one_line(flag, env, said, monkeypatch, tmp_path):
    port = _free_port()
    monkeypatch.setattr(addresses, "CURRENT_CLUSTER", tmp_path / "none")  # no cluster here
    if env is None:
        monkeypatch.delenv("RAY_ADDRESS", raising=False)
    else:
        monkeypatch.setenv("RAY_ADDRESS", env.format(port=port))
    with pytest.raises(InvalidInputError) as caught:
        addresses.check_ray_address(flag.format(port=port) if flag else None)
    assert said.format(port=port) in str(caught.value)


def test_a_run_refuses_before_naming_its_directory_or_loading_torch(tmp_path):
    probe = (
        "import json, sys\n"
        "from multisc.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "heavy = [m for m in ('torch', 'ray') if m in sys.modules]\n"
        "print(json.dumps({'code': code, 'heavy': heavy}), file=sys.__stdout__)\n"
    )
    args = ["run", "--schemes", "bpg_ldpc", "--executor", "ray", "--address",
            f"127.0.0.1:{_free_port()}", "--out", str(tmp_path / "run")]  # fmt: skip
    done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"code": 2, "heavy": []}, done.stderr
    assert "nothing answers there" in done.stderr and "run directory" not in done.stderr
    assert not (tmp_path / "run").exists()
