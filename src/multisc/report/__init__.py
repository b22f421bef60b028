"""Reports of a run: metric-vs-SNR plots, channel uses, image grids, report.html."""
