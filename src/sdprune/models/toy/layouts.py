"""The latent the toy autoencoder is fitted to: where each object is, its colour and its shape."""

from __future__ import annotations

import numpy as np

from sdprune.models.architectures import LATENT_CELL, LATENT_CHANNELS, LATENT_SIZE
from sdprune.scenes import world


def layout_latent(scene: world.Scene) -> np.ndarray:
    """(LATENT_CHANNELS, 8, 8) float32: each object's pixels, averaged over the latent's cells.

    Channels 0-2: the object's RGB offset from the background; channel 3 + k: coverage by
    shape k. Averaging 8x8 pixel cells keeps each object's extent as a fraction, so the latent
    still fixes its outline; the U-Net only lays out soft blobs (what the caption controls) and
    the decoder draws the shapes.
    """
    canvas = np.zeros((LATENT_CHANNELS, world.IMAGE_SIZE, world.IMAGE_SIZE), dtype=np.float32)
    for obj in scene.objects:
        mask = world.shape_mask(obj.shape, obj.x, obj.y, world.SIZES[obj.size]).astype(np.float32)
        offset = (np.array(world.COLOURS[obj.colour]) - np.array(world.BACKGROUND)) / 127.5
        canvas[:3] += offset[:, None, None] * mask
        canvas[3 + world.SHAPES.index(obj.shape)] += mask
    cells = (LATENT_CHANNELS, LATENT_SIZE, LATENT_CELL, LATENT_SIZE, LATENT_CELL)
    return canvas.reshape(cells).mean(axis=(2, 4))
