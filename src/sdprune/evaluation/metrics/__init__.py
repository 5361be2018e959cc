"""Image metrics: FID (clean-fid) and CLIP score (open_clip), with weights read from disk.

`fetch_metric_weights` puts the real weights (or, for offline presets, small
seeded stand-ins of ours) into a folder; the scorers only ever read that folder.
"""
