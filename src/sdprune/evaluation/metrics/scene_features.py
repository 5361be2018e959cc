"""A feature network for FID in the toy scene world (`scoring.metric_weights: scenes`).

Inception was trained on photographs; flat shapes on grey mean little to it. So the toy world
gets its own network: a small CNN trained from scratch, on a CPU in seconds, to recognise
what a scene is made of:

- per cell of an 8 x 8 grid over the image: which (colour, shape) pair covers the cell's centre
  (the object's bounding box does; 0 = none), and that object's size;
- per image: how many objects there are, read linearly from the grid's average.

FID reads that average, the (B, 64) layer under the count logits: a histogram of what the
cells show, so it moves when colours, shapes, sizes or the number of objects are drawn wrongly
or poorly (blur and noise push cells away from what the network knows).

Training data: renders of the train split from index ``TRAINING_START`` on, a stretch neither
the toy model's training nor the calibration prompts reach, each scene's palette permuted at
random. The permutation shows every (colour, shape) pair, the held-out ones included, so the
network learns shape colour-blind and describes the eval split's scenes as well as the rest.
All randomness (initial weights, colour permutations, batches) is seeded: the same seed gives
the same weights on the same machine and thread count.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from sdprune.evaluation.metrics.fid import SCENE_NET_FILE
from sdprune.io import atomic_directory, load_tensors, read_tensor_metadata, save_tensors
from sdprune.scenes import world

log = logging.getLogger(__name__)

GRID = 8  # cells per side; a cell is 8 x 8 pixels, smaller than the smallest object (11 px)
CELL = world.IMAGE_SIZE // GRID
PAIRS = tuple((colour, shape) for colour in world.COLOURS for shape in world.SHAPES)
SIZE_NAMES = tuple(world.SIZES)
MAX_OBJECTS = 3  # world.scene draws one to three objects
FEATURE_DIM = 64
TRAINING_START = 2_000_000  # past the toy model's training scenes and the calibration prompts' (1_000_000 on)


@dataclass(frozen=True)
class SceneNetTraining:
    """The recipe; the defaults train in about 20 seconds on two CPU cores."""

    steps: int = 1000
    batch_size: int = 32
    lr: float = 3e-3
    num_scenes: int = 4096
    empty_cell_weight: float = 0.1  # nine cells in ten are empty; they would drown the objects' cells


class SceneNet(nn.Module):
    """0-255 images (B, 3, 64, 64) -> per-cell pair and size logits (B, P+1+S+1, 8, 8), count logits (B, 3)."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.trunk = nn.Sequential(  # three stride-2 steps: 64 -> 8, one cell per output position
            nn.Conv2d(3, width, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(2 * width, FEATURE_DIM, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(FEATURE_DIM, FEATURE_DIM, 3, padding=1), nn.ReLU(),  # sees the neighbouring cells
        )
        self.cell_head = nn.Conv2d(FEATURE_DIM, len(PAIRS) + 1 + len(SIZE_NAMES) + 1, 1)
        self.count_head = nn.Linear(FEATURE_DIM, MAX_OBJECTS)

    def feature_map(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) 0-255 -> (B, 64, 8, 8); other sizes (clean-fid's 299 x 299) are resized to 64 first.

        Bilinear without antialiasing samples the 299 image exactly where clean-fid's bicubic
        upscaling put each 64-pixel's centre, and bicubic interpolation passes through its samples:
        a 64 x 64 image comes back within a few levels (mean 0.06). An averaging resize would blur
        every edge, and the network reads blur as damage.
        """
        if pixels.shape[-2:] != (world.IMAGE_SIZE, world.IMAGE_SIZE):
            pixels = F.interpolate(pixels, size=(world.IMAGE_SIZE, world.IMAGE_SIZE), mode="bilinear",
                                   align_corners=False, antialias=False)
        return self.trunk(pixels / 127.5 - 1.0)

    def features(self, pixels: torch.Tensor) -> torch.Tensor:
        """The FID features: the grid's average, (B, 64)."""
        return self.feature_map(pixels).mean(dim=(2, 3))

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        grid = self.feature_map(pixels)  # (B, 64, 8, 8)
        return self.cell_head(grid), self.count_head(grid.mean(dim=(2, 3)))


def cell_targets(scene: world.Scene) -> np.ndarray:
    """(2, 8, 8) int64: per cell, 1 + the index in ``PAIRS`` and 1 + the index in ``SIZE_NAMES`` of the
    object whose bounding box holds the cell's centre; 0 where none does (boxes never overlap)."""
    targets = np.zeros((2, GRID, GRID), dtype=np.int64)
    centres = np.arange(GRID) * CELL + CELL / 2  # (G,) pixel coordinate of each cell's centre
    for obj in scene.objects:
        side = world.SIZES[obj.size]
        rows = (centres >= obj.y) & (centres < obj.y + side)
        cols = (centres >= obj.x) & (centres < obj.x + side)
        covered = rows[:, None] & cols[None, :]  # (G, G)
        targets[0][covered] = 1 + PAIRS.index((obj.colour, obj.shape))
        targets[1][covered] = 1 + SIZE_NAMES.index(obj.size)
    return targets


def recoloured(scene: world.Scene, rng: np.random.Generator) -> world.Scene:
    """The scene with its palette permuted at random: same layout and shapes, other colours."""
    names = list(world.COLOURS)
    swap = dict(zip(names, (names[i] for i in rng.permutation(len(names)))))
    return dataclasses.replace(scene, objects=tuple(dataclasses.replace(o, colour=swap[o.colour]) for o in scene.objects))


def scene_batch(scenes: list[world.Scene]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Renders (N, 3, 64, 64) float32 0-255, cell targets (N, 2, 8, 8) and object counts - 1 (N,)."""
    pixels = torch.from_numpy(np.stack([world.render(s) for s in scenes])).permute(0, 3, 1, 2).float()
    cells = torch.from_numpy(np.stack([cell_targets(s) for s in scenes]))
    counts = torch.tensor([len(s.objects) - 1 for s in scenes])
    return pixels, cells, counts


def scene_net_loss(net: SceneNet, pixels: torch.Tensor, cells: torch.Tensor, counts: torch.Tensor,
                   empty_cell_weight: float) -> torch.Tensor:
    cell_logits, count_logits = net(pixels)
    pair_logits, size_logits = torch.split(cell_logits, [len(PAIRS) + 1, len(SIZE_NAMES) + 1], dim=1)
    loss = F.cross_entropy(count_logits, counts)
    for logits, target in ((pair_logits, cells[:, 0]), (size_logits, cells[:, 1])):
        weight = torch.ones(logits.shape[1])
        weight[0] = empty_cell_weight
        loss = loss + F.cross_entropy(logits, target, weight=weight)
    return loss


def train_scene_net(*, seed: int = 0, recipe: SceneNetTraining = SceneNetTraining()) -> SceneNet:
    """Train the network from scratch on recoloured train-split renders (see the module docstring)."""
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    chosen = world.scenes(recipe.num_scenes, seed=seed, split="train", start=TRAINING_START)
    pixels, cells, counts = scene_batch([recoloured(s, rng) for s in chosen])
    with torch.random.fork_rng(devices=[]):  # seeded initial weights without touching the caller's RNG
        torch.manual_seed(seed)
        net = SceneNet()
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(net.parameters(), lr=recipe.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=recipe.steps)
    for _ in range(recipe.steps):
        batch = torch.randint(0, recipe.num_scenes, (recipe.batch_size,), generator=generator)
        loss = scene_net_loss(net, pixels[batch], cells[batch], counts[batch], recipe.empty_cell_weight)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
    log.info("scene feature network: %d steps in %.1f s, last loss %.3f", recipe.steps,
             time.perf_counter() - started, loss.item())
    return net.eval()


def save_scene_net(out_dir: str | Path, *, seed: int = 0, recipe: SceneNetTraining = SceneNetTraining()) -> Path:
    """Train the network and write it as ``SCENE_NET_FILE`` in ``out_dir`` (atomically), with its recipe."""
    net = train_scene_net(seed=seed, recipe=recipe)
    out_dir = Path(out_dir)
    with atomic_directory(out_dir) as tmp:
        save_tensors(tmp / SCENE_NET_FILE, net.state_dict(),
                     {"kind": "sdprune-scene-features", "seed": str(seed), "recipe": json.dumps(dataclasses.asdict(recipe))})
    return out_dir


def load_scene_net(path: str | Path, device: torch.device | str = "cpu") -> SceneNet:
    if read_tensor_metadata(path).get("kind") != "sdprune-scene-features":
        raise ValueError(f"{path} is not a scene feature network")
    net = SceneNet()
    net.load_state_dict(load_tensors(path))
    return net.to(device).eval()
