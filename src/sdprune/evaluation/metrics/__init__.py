"""Image metrics: FID (clean-fid, or the paper's JPEG + pytorch-fid protocol), CLIP score (open_clip)
and paired similarity to the dense model's images (SSIM, PSNR, CLIP image similarity).

The scorers only ever read weights from a local folder. `fid.fetch_inception`,
`fid.fetch_pytorch_fid_inception` and `clip_score.fetch_clip` put the real weights there;
`standins.save_standin_inception` / `save_standin_clip` put small seeded stand-ins of ours there
instead, for offline presets (their numbers are not comparable to published ones).
In the toy scene world, `scene_features.save_scene_net` trains FID's network there instead, and
`prompt_accuracy` judges each image against its caption (`sdprune.scenes.judge`).
"""
