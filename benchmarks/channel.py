"""Throughput of DigitalLink beside the same work done with bare Sionna calls.

Three workloads, each on the same random bits, batch and SNR:
  - uncoded 16-QAM over AWGN (map, noise, hard demap);
  - 5G LDPC rate 1/2, 20 BP iterations, 16-QAM over AWGN (encode, map, noise,
    soft demap, decode), 1024 information bits per codeword;
  - the 5G NR link: PUSCH at MCS 10 over TDL-A with LS channel estimation, 16 PRBs,
    32 slots per call (``benchmarks/nr.py`` has its curves and time per kilobit).

The bare version is what a Sionna user writes by hand; the ratio (ours / bare, in bits
per second) shows what our layer costs. Each is timed `--repeats` times after a
warm-up, interleaved, and the median is reported.

    python benchmarks/channel.py [--device cpu|cuda] [--repeats 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable

import torch
from sionna.phy.channel import AWGN
from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder
from sionna.phy.mapping import Demapper, Mapper

from multisc.channel import ChannelSpec, DigitalLink
from multisc.devices import resolve_device


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _median_seconds(fn: Callable[[], object], device: torch.device, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return times


def bench(device: torch.device, repeats: int, batch_uncoded: int, batch_ldpc: int) -> dict:
    spec = ChannelSpec(10.0)
    no = spec.noise_variance
    dev = str(device)
    generator = torch.Generator(device=device).manual_seed(0)
    results: dict[str, dict] = {}

    # -- uncoded 16-QAM ---------------------------------------------------------------
    n_bits = 1 << 16
    bits = torch.randint(0, 2, (batch_uncoded, n_bits), generator=generator, device=device).float()
    ours = DigitalLink("16qam", "none", device=device)
    mapper = Mapper("qam", 4, device=dev)
    hard = Demapper("app", "qam", 4, hard_out=True, device=dev)
    awgn = AWGN(device=dev)

    def bare_uncoded() -> torch.Tensor:
        received = hard(awgn(mapper(bits), no), no)
        return (received != bits).sum(-1)

    def ours_uncoded() -> torch.Tensor:
        return ours.send_bits(bits, spec, generator).bit_errors

    results["uncoded_16qam"] = _compare(bare_uncoded, ours_uncoded, bits.numel(), device, repeats)

    # -- LDPC rate 1/2, 16-QAM -----------------------------------------------------------
    k, n = 1024, 2048
    info = torch.randint(0, 2, (batch_ldpc, k), generator=generator, device=device).float()
    ours_ldpc = DigitalLink(
        "16qam", "ldpc", 0.5, max_block_bits=k, ldpc_iterations=20, device=device
    )
    assert ours_ldpc.layout(k).coded_bits == n
    encoder = LDPC5GEncoder(k, n, num_bits_per_symbol=4, device=dev)
    decoder = LDPC5GDecoder(encoder, hard_out=True, num_iter=20, device=dev)
    soft = Demapper("app", "qam", 4, device=dev)

    def bare_ldpc() -> torch.Tensor:
        decoded = decoder(soft(awgn(mapper(encoder(info)), no), no))
        return (decoded != info).sum(-1)

    def ours_ldpc_run() -> torch.Tensor:
        return ours_ldpc.send_bits(info, spec, generator).bit_errors

    results["ldpc_r0.5_16qam_20it"] = _compare(
        bare_ldpc, ours_ldpc_run, info.numel(), device, repeats
    )

    # -- 5G NR PUSCH over TDL-A, MCS 10, LS channel estimation (benchmarks/nr.py) ----------
    from nr import throughput  # beside this file

    nr = throughput(16, dev, slots=32, repeats=repeats)
    results["nr_pusch_tdl_a_mcs10"] = {
        "bits_per_call": None,
        "bare_sionna_bits_per_s": nr["bare_sionna_bits_per_s"],
        "digital_link_bits_per_s": nr["ours_bits_per_s"],
        "ratio": nr["ratio"],
    }
    return results


def _compare(
    bare: Callable, ours: Callable, n_bits: int, device: torch.device, repeats: int
) -> dict:
    bare(), ours()  # warm-up: lazy builds, allocator
    bare_times: list[float] = []
    ours_times: list[float] = []
    for _ in range(repeats):  # interleaved, so drift hits both alike
        bare_times += _median_seconds(bare, device, 1)
        ours_times += _median_seconds(ours, device, 1)
    bare_bps = n_bits / statistics.median(bare_times)
    ours_bps = n_bits / statistics.median(ours_times)
    return {
        "bits_per_call": n_bits,
        "bare_sionna_bits_per_s": round(bare_bps),
        "digital_link_bits_per_s": round(ours_bps),
        "ratio": round(ours_bps / bare_bps, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch-uncoded", type=int, default=32, help="messages of 65536 bits")
    parser.add_argument("--batch-ldpc", type=int, default=128, help="codewords of 1024 bits")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    device = resolve_device(args.device)
    torch.set_grad_enabled(False)
    results = bench(device, args.repeats, args.batch_uncoded, args.batch_ldpc)
    machine = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    )
    report = {"device": str(device), "machine": machine, "torch": torch.__version__, **results}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"device: {report['device']} ({machine}), torch {torch.__version__}")
    print(f"{'workload':<24}{'bare Sionna bit/s':>20}{'DigitalLink bit/s':>20}{'ratio':>8}")
    for name, row in results.items():
        print(
            f"{name:<24}{row['bare_sionna_bits_per_s']:>20,}{row['digital_link_bits_per_s']:>20,}"
            f"{row['ratio']:>8.3f}"
        )
    worst = min(row["ratio"] for row in results.values())
    print(f"worst ratio {worst:.3f} ({'OK' if worst >= 0.9 else 'BELOW 0.9'})")


if __name__ == "__main__":
    main()
