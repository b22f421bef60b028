"""Deep joint source-channel coding (Bourtsoulatze, Kurka and Gündüz, ICASSP 2019).

Encoder: five 5x5 convolutions (16 stride 2, 32 stride 2, 32, 32, c), PReLU after each,
then per-image power normalisation; the real outputs travel in pairs as complex symbols
through [AnalogLink][multisc.channel.analog.AnalogLink]. Decoder: the mirrored transposed
convolutions, PReLU, and a sigmoid at the output.

Bandwidth ratio k/n = channel uses / source dimensions (H·W·3). The encoder downsamples
by 4, so it emits c·(H/4)·(W/4) reals = c·H·W/32 complex symbols, and k/n = c/96:
``ratio = 1/6`` means c = 16, ``1/12`` means c = 8.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from multisc import atomic
from multisc.channel import AnalogLink, AnalogTransmission, ChannelSpec
from multisc.errors import InvalidInputError, choices_error
from multisc.untrusted import json_loads

DOWNSAMPLE = 4  # two stride-2 convolutions
SOURCE_TO_SYMBOLS = 96  # k/n = c / 96 (see the module docstring)
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
FORMAT = "multisc-jscc-1"
#: the encoder's last convolution: its output channels are c
ENCODER_OUTPUT = "encoder.4.0.weight"


def parse_ratio(text: str | Fraction) -> Fraction:
    """Parse a bandwidth ratio ``"K/N"`` (e.g. ``"1/6"``) into a fraction in (0, 1]."""
    if isinstance(text, Fraction):
        ratio = text
    else:
        try:
            num, _, den = str(text).partition("/")
            ratio = Fraction(int(num), int(den or 1))
        except (ValueError, ZeroDivisionError) as exc:
            raise InvalidInputError(
                f"bandwidth ratio must look like K/N with N > 0 (e.g. 1/6), got {text!r}"
            ) from exc
    if not 0 < ratio <= 1:
        raise InvalidInputError(
            f"bandwidth ratio K/N must lie in (0, 1] (channel uses per source dimension), "
            f"got {text}"
        )
    return ratio


def channels_for_ratio(ratio: Fraction) -> int:
    """Encoder output channels c for a bandwidth ratio (k/n = c / 96)."""
    channels = ratio * SOURCE_TO_SYMBOLS
    if channels.denominator != 1:
        raise InvalidInputError(
            f"deep JSCC realises ratios c/96 for whole c; {ratio} is not one "
            f"(nearest: {round(channels)}/96)"
        )
    return int(channels)


TrainSnr = float | tuple[float, float]


def parse_train_snr(value: str | float | Sequence[float]) -> TrainSnr:
    """A training SNR: one value in dB (``10``), or a range ``"LOW:HIGH"`` / ``[low, high]``
    drawn uniformly per training step (``"0:20"``)."""
    if isinstance(value, str):
        low, sep, high = value.partition(":")
        try:
            parsed: TrainSnr = (float(low), float(high)) if sep else float(low)
        except ValueError as exc:
            raise InvalidInputError(
                f"training SNR must be a number of dB (19) or a range LOW:HIGH (0:20), "
                f"got {value!r}"
            ) from exc
    elif isinstance(value, int | float):
        parsed = float(value)
    else:
        pair = tuple(float(v) for v in value)
        if len(pair) != 2:
            raise InvalidInputError(f"a training SNR range has two ends, got {list(value)}")
        parsed = pair  # type: ignore[assignment]
    ends = parsed if isinstance(parsed, tuple) else (parsed,)
    for end in ends:
        ChannelSpec(end)  # one validation of an SNR
    if isinstance(parsed, tuple) and parsed[0] > parsed[1]:
        raise InvalidInputError(
            f"training SNR range {parsed[0]:g}:{parsed[1]:g} dB runs backwards (LOW:HIGH)"
        )
    return parsed


def snr_label(value: TrainSnr) -> str:
    """``"10 dB"`` or ``"0-20 dB"``."""
    if isinstance(value, tuple):
        return f"{value[0]:g}-{value[1]:g} dB"
    return f"{value:g} dB"


#: channels deep JSCC trains on; over NR the models of the matching one run (no fading:
#: AWGN's; a fading profile: Rayleigh's), see
#: [training_channel][multisc.codecs.jscc.training_channel]
TRAINING_CHANNELS = ("awgn", "rayleigh")


def training_channel(spec_or_fading: ChannelSpec | str) -> str:
    """The training channel whose checkpoints serve a channel: itself for AWGN and
    Rayleigh; over NR, AWGN's without fading and Rayleigh's with a fading profile."""
    if isinstance(spec_or_fading, ChannelSpec):
        if spec_or_fading.nr is not None:
            return "rayleigh" if spec_or_fading.nr.fades else "awgn"
        return spec_or_fading.fading
    return spec_or_fading


@dataclass(frozen=True)
class JSCCConfig:
    """What a deep JSCC checkpoint is: its bandwidth ratio and the channel it trained on.

    :param train_snr_db: one SNR in dB, or ``(low, high)``: each training step then draws
        its SNR uniformly from that range, and the model serves every SNR in it.
    """

    ratio: str
    train_snr_db: TrainSnr
    fading: str = "awgn"

    def __post_init__(self) -> None:
        channels_for_ratio(parse_ratio(self.ratio))
        object.__setattr__(self, "train_snr_db", parse_train_snr(self.train_snr_db))
        if self.fading not in TRAINING_CHANNELS:
            raise choices_error("training channel", self.fading, TRAINING_CHANNELS)

    @property
    def channels(self) -> int:
        return channels_for_ratio(parse_ratio(self.ratio))

    @property
    def label(self) -> str:
        """``"k/n=1/24, 0-20 dB, awgn"``."""
        return f"k/n={self.ratio}, {snr_label(self.train_snr_db)}, {self.fading}"


def _conv(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 5, stride=stride, padding=2), nn.PReLU())


def _deconv(cin: int, cout: int, stride: int, last: bool = False) -> nn.Sequential:
    layer = nn.ConvTranspose2d(cin, cout, 5, stride=stride, padding=2, output_padding=stride - 1)
    return nn.Sequential(layer, nn.Sigmoid() if last else nn.PReLU())


class DeepJSCC(nn.Module):
    """The encoder/decoder pair. Images are ``[batch, 3, H, W]`` in [0, 1].

    Examples:

    ```pycon
    >>> import torch
    >>> from multisc.channel import ChannelSpec
    >>> model = DeepJSCC(JSCCConfig("1/6", train_snr_db=10.0))
    >>> x = torch.rand(2, 3, 32, 32)
    >>> x_hat, uses = model(x, ChannelSpec(10.0), torch.Generator().manual_seed(0))
    >>> x_hat.shape, uses, 32 * 32 * 3 // 6
    (torch.Size([2, 3, 32, 32]), 512, 512)

    ```
    """

    def __init__(self, config: JSCCConfig) -> None:
        super().__init__()
        self.config = config
        c = config.channels
        self.encoder = nn.Sequential(
            _conv(3, 16, 2), _conv(16, 32, 2), _conv(32, 32, 1), _conv(32, 32, 1), _conv(32, c, 1)
        )
        self.decoder = nn.Sequential(
            _deconv(c, 32, 1),
            _deconv(32, 32, 1),
            _deconv(32, 32, 1),
            _deconv(32, 16, 2),
            _deconv(16, 3, 2, last=True),
        )
        self.link = AnalogLink(normalize=False)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 3, H, W]`` (H, W multiples of 4) -> ``[B, c, H/4, W/4]`` reals, each image
        normalised to unit average power per complex symbol (pairs of reals)."""
        z = self.encoder(x)
        power = 2.0 * z.pow(2).flatten(1).mean(dim=1)  # per complex symbol
        return z / power.clamp_min(1e-12).sqrt().view(-1, 1, 1, 1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``[B, c, H/4, W/4]`` -> ``[B, 3, H, W]`` in [0, 1]."""
        return self.decoder(z)

    def forward(
        self, x: torch.Tensor, spec: ChannelSpec, generator: torch.Generator
    ) -> tuple[torch.Tensor, int]:
        """Encode, send over the channel, decode.

        Sizes that are not multiples of 4 are padded (edge replication) and the output is
        cropped back; the channel uses count what was sent, i.e. the padded size.

        :input x: ``[B, 3, H, W]`` in [0, 1].
        :output x_hat: ``[B, 3, H, W]`` in [0, 1].
        :output channel_uses: complex symbols per image (= k/n · H'·W'·3, H', W' padded).
        """
        x_hat, sent = self.send(x, spec, generator)
        return x_hat, sent.channel_uses

    def send(
        self, x: torch.Tensor, spec: ChannelSpec, generator: torch.Generator
    ) -> tuple[torch.Tensor, AnalogTransmission]:
        """``forward``, with the link's whole account (channel and pilot uses)."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise InvalidInputError(f"expected images [B, 3, H, W], got {tuple(x.shape)}")
        height, width = x.shape[-2:]
        pad_h, pad_w = -height % DOWNSAMPLE, -width % DOWNSAMPLE
        if pad_h or pad_w:
            x = nn.functional.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        z = self.encode(x)
        sent = self.link.send(z, spec, generator)
        x_hat = self.decode(sent.received)
        return x_hat[..., :height, :width], sent


def save_checkpoint(model: DeepJSCC, directory: str | Path, training: dict | None = None) -> Path:
    """Write ``model.safetensors`` and ``config.json`` into ``directory`` (atomically).

    :param training: how the model was trained (recipe, steps, data) and what it reaches,
        kept in ``config.json`` under ``"training"`` for whoever reads the checkpoint.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic.replacing(directory / WEIGHTS_FILE) as tmp:
        save_file(weights, str(tmp))
    config: dict = {**asdict(model.config), "channels": model.config.channels, "format": FORMAT}
    if training:
        config["training"] = training
    atomic.write_text(directory / CONFIG_FILE, json.dumps(config, indent=2))
    return directory


def read_training(directory: str | Path) -> dict:
    """The ``"training"`` record of a checkpoint's config (empty when it has none)."""
    try:
        raw = json_loads((Path(directory) / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    training = raw.get("training") if isinstance(raw, dict) else None
    return training if isinstance(training, dict) else {}


def check_checkpoint_dir(directory: str | Path, key: str = "jscc.checkpoint") -> None:
    """Refuse (one line naming ``key``) a checkpoint path that is not a deep JSCC
    checkpoint directory: missing, not a folder, no ``config.json`` or weights."""
    path = Path(directory)
    if not path.is_dir():
        what = "does not exist" if not path.exists() else "is not a folder"
        raise InvalidInputError(f"{key}: {str(directory)!r} {what}: give a checkpoint directory")
    read_config(path)
    if not (path / WEIGHTS_FILE).is_file():
        raise InvalidInputError(f"{key}: {path} has no {WEIGHTS_FILE}: not a checkpoint")


def read_config(directory: str | Path) -> JSCCConfig:
    """The [JSCCConfig][multisc.codecs.jscc.JSCCConfig] of a checkpoint directory, with one clear
    error when
    ``config.json`` is missing, is not a deep JSCC config, or contradicts itself
    (``channels`` is not the ratio's ``c = 96 k/n``)."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise InvalidInputError(
            f"no deep JSCC checkpoint at {directory}: {CONFIG_FILE} is missing "
            "(train one with `multisc jscc train`)"
        )
    try:
        raw = json_loads(path.read_text(encoding="utf-8"))
        config = JSCCConfig(
            ratio=str(raw["ratio"]),
            train_snr_db=raw["train_snr_db"],
            fading=str(raw.get("fading", "awgn")),
        )
    except InvalidInputError as exc:  # before ValueError, of which it is one
        raise InvalidInputError(f"{path} is not a valid deep JSCC config: {exc}") from exc
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise InvalidInputError(f"{path} is not a deep JSCC config: {exc}") from exc
    stated = raw.get("channels", config.channels)
    if stated != config.channels:
        raise InvalidInputError(
            f"{path} contradicts itself: ratio {config.ratio} means c={config.channels} "
            f"encoder channels, but it says channels={stated}; correct config.json or point "
            "at another checkpoint"
        )
    return config


def load_checkpoint(directory: str | Path, device: str | torch.device = "cpu") -> DeepJSCC:
    """Load a checkpoint written by [save_checkpoint][multisc.codecs.jscc.save_checkpoint], with
    one clear error each when
    the weights are missing or truncated, were trained for another ratio than the config
    says, or do not fit the architecture."""
    config = read_config(directory)
    weights_path = Path(directory) / WEIGHTS_FILE
    if not weights_path.is_file():
        raise InvalidInputError(f"no deep JSCC weights at {weights_path}")
    model = DeepJSCC(config)
    from multisc.models import weights_problem

    problem = weights_problem(weights_path)
    if problem:
        raise InvalidInputError(
            f"deep JSCC checkpoint {weights_path} {problem}: train it again "
            "(`multisc jscc train`, which resumes) or point at another checkpoint"
        )
    state = load_file(str(weights_path))
    last = state.get(ENCODER_OUTPUT)
    if last is not None and last.dim() == 4 and last.shape[0] != config.channels:
        ratio = Fraction(int(last.shape[0]), SOURCE_TO_SYMBOLS)
        raise InvalidInputError(
            f"checkpoint {directory}: its weights emit c={last.shape[0]} channels (ratio "
            f"{ratio}), but its config says ratio {config.ratio} (c={config.channels}); "
            "the config belongs to another model: correct config.json or point at another "
            "checkpoint"
        )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise InvalidInputError(
            f"checkpoint {directory} does not fit deep JSCC's architecture (five 5x5 "
            f"convolutions each way, ratio {config.ratio}, c={config.channels}): "
            f"{first[1].strip() if len(first) > 1 else first[0]}"
        ) from exc
    return model.to(device).eval()
