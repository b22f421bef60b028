"""The NR link's curves: TB error rate vs SNR per MCS over a flat channel and TDL-A (ours
and the same PUSCH written as bare Sionna calls), the analog MSE penalty of estimated CSI,
and the time per transmitted kilobit.

    python benchmarks/nr.py [--device cpu|cuda] [--slots 64] [--prbs 16] [--json]
        [--figure docs/figures/nr_bler.png]

Every point sends ``--slots`` transport blocks (one per slot) of random bits at MCS 5
(QPSK), 10 (16-QAM) and 15 (16-QAM/64-QAM boundary, table 1) with LS channel estimation.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from multisc.channel import NRConfig
from multisc.channel.nr_mcs import grid_link, nr_link
from multisc.devices import resolve_device

MCS = (5, 10, 15)
#: SNR windows (dB) that cover each MCS's waterfall, flat and TDL-A (100 ns, 3 km/h)
WINDOWS = {
    ("none", 5): np.arange(-4.0, 3.1, 1.0),
    ("none", 10): np.arange(2.0, 9.1, 1.0),
    ("none", 15): np.arange(6.0, 13.1, 1.0),
    ("TDL-A", 5): np.arange(-2.0, 13.1, 2.0),
    ("TDL-A", 10): np.arange(4.0, 19.1, 2.0),
    ("TDL-A", 15): np.arange(8.0, 23.1, 2.0),
}


def bare_bler(mcs: int, snr_db: float, slots: int, prbs: int, device: str) -> float:
    """The PUSCH over TDL-A as bare Sionna calls (its own bits, noise and channel draws)."""
    from sionna.phy.channel import OFDMChannel
    from sionna.phy.channel.tr38901 import TDL
    from sionna.phy.nr import PUSCHConfig, PUSCHReceiver, PUSCHTransmitter

    pusch = PUSCHConfig()
    pusch.carrier.subcarrier_spacing = 30
    pusch.carrier.n_size_grid = prbs
    pusch.n_size_bwp = prbs
    pusch.tb.mcs_index = mcs
    tx = PUSCHTransmitter(pusch, device=device)
    rx = PUSCHReceiver(tx, return_tb_crc_status=True, device=device)
    tdl = TDL("A", 100e-9, 3.5e9, min_speed=3 / 3.6, max_speed=3 / 3.6, device=device)
    channel = OFDMChannel(tdl, tx.resource_grid, normalize_channel=False, device=device)
    no = 10 ** (-snr_db / 10)
    x, _ = tx(slots)
    _, crc = rx(channel(x, no), no)
    return 1 - float(crc.float().mean())


def bler_curves(slots: int, prbs: int, device: str) -> list[dict]:
    rows = []
    for (profile, mcs), snrs in WINDOWS.items():
        link = nr_link(NRConfig(profile, prbs=prbs, mcs=mcs), device)
        g = torch.Generator().manual_seed(mcs)
        bits = torch.randint(0, 2, (slots, link.tb_size), generator=g).float()
        for snr in snrs:
            bler = float(link.send_bits(bits, float(snr), g).tb_failed.float().mean())
            row = {"profile": profile, "mcs": mcs, "snr_db": float(snr), "bler": bler}
            if profile == "TDL-A":
                row["bare_sionna_bler"] = bare_bler(mcs, float(snr), slots, prbs, device)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    return rows


def analog_penalty(prbs: int, device: str) -> list[dict]:
    """MSE per complex symbol / N0 of analog QPSK-power symbols, perfect vs estimated CSI."""
    g = torch.Generator().manual_seed(0)
    n = 20_000
    s = torch.complex(torch.randn(1, n, generator=g), torch.randn(1, n, generator=g)) / 2**0.5
    rows = []
    for profile in ("none", "TDL-A"):
        for snr in (0.0, 5.0, 10.0, 15.0, 20.0):
            no = 10 ** (-snr / 10)
            mse = {}
            for csi in ("perfect", "estimated"):
                link = grid_link(NRConfig(profile, prbs=prbs, csi=csi), device)
                out = link.send_symbols(s.to(device), snr, g).cpu()
                mse[csi] = float(((out - s).abs() ** 2).mean()) / no
            rows.append(
                {
                    "profile": profile,
                    "snr_db": snr,
                    "mse_over_n0_perfect": round(mse["perfect"], 3),
                    "mse_over_n0_estimated": round(mse["estimated"], 3),
                    "penalty_db": round(10 * math.log10(mse["estimated"] / mse["perfect"]), 2),
                }
            )
    return rows


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def throughput(prbs: int, device: str, slots: int, repeats: int = 3) -> dict:
    """Ours vs bare Sionna, TDL-A, MCS 10, 10 dB: information bits per second and the
    time per transmitted kilobit (medians of interleaved repeats after a warm-up)."""
    from sionna.phy import config
    from sionna.phy.channel import OFDMChannel
    from sionna.phy.channel.tr38901 import TDL
    from sionna.phy.nr import PUSCHReceiver

    config.seed = 0
    link = nr_link(NRConfig("TDL-A", prbs=prbs, mcs=10), device)
    rx = PUSCHReceiver(link.transmitter, return_tb_crc_status=True, device=device)
    tdl = TDL("A", 100e-9, 3.5e9, min_speed=3 / 3.6, max_speed=3 / 3.6, device=device)
    channel = OFDMChannel(tdl, link.resource_grid, normalize_channel=False, device=device)
    # the channel's generator on the link's device, as the schemes use it
    g = torch.Generator(device=device).manual_seed(0)
    bits = torch.randint(0, 2, (slots, link.tb_size), generator=g, device=device).float()
    b3 = bits.reshape(slots, 1, link.tb_size)
    no = 0.1

    def ours() -> None:
        link.send_bits(bits, 10.0, g)

    def bare() -> None:
        rx(channel(link.transmitter(b3), no), no)

    times: dict[str, list[float]] = {"ours": [], "bare": []}
    ours(), bare()
    for _ in range(repeats):
        for name, fn in (("bare", bare), ("ours", ours)):
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            times[name].append(time.perf_counter() - start)
    n_bits = slots * link.tb_size
    bps = {k: n_bits / float(np.median(v)) for k, v in times.items()}
    return {
        "workload": f"PUSCH TDL-A MCS 10, {prbs} PRBs, {slots} slots per call, LS CSI",
        "ours_bits_per_s": round(bps["ours"]),
        "bare_sionna_bits_per_s": round(bps["bare"]),
        "ratio": round(bps["ours"] / bps["bare"], 3),
        "ms_per_kbit_ours": round(1e6 / bps["ours"], 3),
        "ms_per_kbit_bare": round(1e6 / bps["bare"], 3),
    }


def figure(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, profile in zip(axes, ("none", "TDL-A"), strict=True):
        for i, mcs in enumerate(MCS):
            mine = [r for r in rows if r["profile"] == profile and r["mcs"] == mcs]
            snr = [r["snr_db"] for r in mine]
            color = plt.cm.tab10(i)
            ax.semilogy(snr, [max(r["bler"], 1e-3) for r in mine], "o-", color=color,
                        label=f"MCS {mcs} (ours)")  # fmt: skip
            if profile == "TDL-A":
                ax.semilogy(snr, [max(r["bare_sionna_bler"], 1e-3) for r in mine], "x--",
                            color=color, label=f"MCS {mcs} (bare Sionna)")  # fmt: skip
        title = "flat (no fading)" if profile == "none" else "TDL-A, 100 ns, 3 km/h"
        ax.set_title(f"NR PUSCH, {title}, LS CSI", fontsize=9)
        ax.set_xlabel("SNR (dB, Es/N0 per RE)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("TB error rate (floor 1e-3 = none seen)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--slots", type=int, default=64)
    parser.add_argument("--prbs", type=int, default=16)
    parser.add_argument("--throughput-only", action="store_true")
    parser.add_argument("--figure", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    device = str(resolve_device(args.device))
    torch.set_grad_enabled(False)
    machine = (
        torch.cuda.get_device_name()
        if device.startswith("cuda")
        else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    )
    report: dict = {"device": device, "machine": machine, "torch": torch.__version__}
    report["throughput"] = [
        throughput(args.prbs, device, slots) for slots in (args.slots, 2 * args.slots)
    ]
    if not args.throughput_only:
        report["analog_csi_penalty"] = analog_penalty(args.prbs, device)
        report["bler"] = bler_curves(args.slots, args.prbs, device)
        if args.figure:
            figure(report["bler"], args.figure)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
