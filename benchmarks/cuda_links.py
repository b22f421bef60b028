"""CUDA check of every link (AWGN, Rayleigh, NR), digital and analog, on the GPU:

python benchmarks/cuda_links.py
"""

import torch

from multisc.channel import AnalogLink, ChannelSpec, DigitalLink, NRConfig
from multisc.devices import resolve_device

device = resolve_device("cuda")
print("device", device)
generator = torch.Generator(device=device).manual_seed(0)
specs = (
    ChannelSpec(10.0),
    ChannelSpec(10.0, fading="rayleigh"),
    ChannelSpec(20.0, nr=NRConfig("TDL-A", prbs=4, mcs=5)),
)
for spec in specs:
    text = DigitalLink("qpsk", "ldpc", 0.5, device="cuda").send_text("a dog", spec, generator)
    image = torch.rand(1, 3, 16, 16, device=device)
    analog = AnalogLink().send(image, spec, generator)
    mse = float(((analog.received - image) ** 2).mean())
    print(spec.label, repr(text.received), text.channel_uses, text.pilot_uses)
    print("  analog", analog.received.device, analog.channel_uses, analog.pilot_uses, mse)
