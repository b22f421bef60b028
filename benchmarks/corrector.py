"""Corrector fine-tuning, measured offline: a tiny BART trained from scratch on
channel-noised synthetic captions, against SymSpell and no correction, per SNR bucket.

Real weights are not needed: the captions come from templates, the channel is the real
DigitalLink (uncoded BPSK), the model is a 2+2-layer BART (d_model 128) trained here.

    python benchmarks/corrector.py [--steps 400] [--json]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch

from multisc.channel import DigitalLink
from multisc.correction_tuning.evaluation import evaluate, load_corrector
from multisc.correction_tuning.pairs import make_pairs
from multisc.correction_tuning.training import train_corrector
from multisc.receiver.correction import SymSpellCorrector
from multisc.testing import synthetic_captions, tiny_bart_for


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    corpus = synthetic_captions(600, seed=0)
    link = DigitalLink("bpsk", device="cpu")
    pairs, _ = make_pairs(corpus, (2.0, 8.0), link, per_text=3, seed=0, heldout_fraction=0.15)
    train = [p for p in pairs if p.split == "train"]
    heldout_texts = sorted({p.clean for p in pairs if p.split == "heldout"})
    model, tokenizer = tiny_bart_for(corpus, d_model=128)
    out = Path(tempfile.mkdtemp(prefix="multisc-corrector-"))  # fresh: never a resumed run
    started = time.perf_counter()
    train_corrector(
        train,
        [],
        out,
        model=model,
        tokenizer=tokenizer,
        steps=args.steps,
        batch=32,
        lr=2e-3,
        device="cpu",
    )
    seconds = time.perf_counter() - started
    test, _ = make_pairs(
        heldout_texts, (0.0, 10.0), link, per_text=20, seed=1, heldout_fraction=1.0
    )
    _, tuned = load_corrector(str(out))  # what was saved, loaded the way users load it
    rows = evaluate(
        test, {"tiny BART (from scratch)": tuned, "symspell": SymSpellCorrector()}, bucket_db=2.0
    )
    result = {
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
        "train_pairs": len(train),
        "heldout_texts": len(heldout_texts),
        "test_pairs": len(test),
        "train_seconds": round(seconds, 1),
        "rows": rows,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"{len(train)} training pairs, {len(heldout_texts)} held-out texts x 20 noisy copies "
        f"at 0-10 dB; trained {args.steps} steps in {seconds:.0f} s"
    )
    print(f"{'corrector':<26}{'SNR':>5}{'CER':>8}{'WER':>8}{'BLEU':>8}{'sim':>7}")
    for r in rows:
        print(
            f"{r['corrector']:<26}{r['snr_db']:>5g}{r['cer']:>8.4f}{r['wer']:>8.4f}"
            f"{r['bleu']:>8.2f}{r['text_similarity']:>7.3f}"
        )


if __name__ == "__main__":
    main()
