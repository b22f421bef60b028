"""Fine-tuning the spelling corrector on channel-noised captions, as the paper did:
(noisy, clean, SNR) pairs from the real link, a BART training loop, and an evaluation
of correctors per SNR bucket."""
