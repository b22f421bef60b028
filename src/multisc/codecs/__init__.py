"""Image codecs used by the baselines: HEVC intra (BPG's codec) and deep JSCC."""
