"""CUDA check of every link (AWGN, Rayleigh, NR), digital and analog, on the GPU:

    python benchmarks/cuda_links.py [--device cuda] [--json]

Sends a short text over each channel through an LDPC/QPSK digital link and a random image
through the analog link, on the device, and prints what arrived, the channel uses and the
analog MSE. ``--device cpu`` runs the same mechanics without a GPU.
"""

from __future__ import annotations

import argparse

import torch
from _report import device_label, emit

from multisc.channel import AnalogLink, ChannelSpec, DigitalLink, NRConfig
from multisc.devices import resolve_device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    device = resolve_device(args.device)
    generator = torch.Generator(device=device).manual_seed(0)
    specs = (
        ChannelSpec(10.0),
        ChannelSpec(10.0, fading="rayleigh"),
        ChannelSpec(20.0, nr=NRConfig("TDL-A", prbs=4, mcs=5)),
    )
    links = []
    for spec in specs:
        text = DigitalLink("qpsk", "ldpc", 0.5, device=device).send_text("a dog", spec, generator)
        image = torch.rand(1, 3, 16, 16, device=device, generator=generator)
        analog = AnalogLink().send(image, spec, generator)
        links.append(
            {
                "channel": spec.label,
                "text_received": text.received,
                "text_channel_uses": int(text.channel_uses),
                "text_pilot_uses": int(text.pilot_uses),
                "analog_device": str(analog.received.device),
                "analog_channel_uses": int(analog.channel_uses),
                "analog_pilot_uses": int(analog.pilot_uses),
                "analog_mse": float(((analog.received - image) ** 2).mean()),
            }
        )
    emit({"device": device_label(device), "links": links}, args.json)


if __name__ == "__main__":
    main()
