"""Magnitude pruning of each sd2-random component against the unavoidable work on its weights.

The floor is one pass of ``|W|`` + ``clone`` + ``masked_fill`` over the same Linear
weights (the scores, a pruned copy): any magnitude pruning must at least do that.
Magnitude is timed as the workflow runs it, `prune_component` (scores, selection of
the exact count per matrix, in-place pruning, the measured report), at 50 %. The two
are interleaved, weights restored between repeats (untimed). Target: <= 2x.

    python benchmarks/magnitude_floor.py              # both components, ~3 min
    python benchmarks/magnitude_floor.py --components text_encoder --repeats 5
"""

from __future__ import annotations

import argparse
from types import SimpleNamespace

from _common import build_component, fmt, interleaved, median_ratio, verdict

TARGET = 2.0


def benchmark(component: str, repeats: int, sparsity: float) -> float:
    import torch

    from sdprune.models.components import find_layers
    from sdprune.pruning.prune import prune_component
    from sdprune.pruning.spec import PruneSpec

    module = build_component(component)
    layers = find_layers(module, "linear")
    dense = {name: layer.weight.detach().clone() for name, layer in layers.items()}
    count = sum(w.numel() for w in dense.values())

    @torch.no_grad()
    def restore() -> None:
        for name, layer in layers.items():
            layer.weight.copy_(dense[name])

    def magnitude():
        return prune_component(SimpleNamespace(**{component: module}), component, PruneSpec("magnitude", sparsity=sparsity))

    pruned = {name: ~mask for name, mask in magnitude().artifact.masks.items()}  # warm-up; the floor's masks
    restore()

    @torch.no_grad()
    def floor() -> None:
        for name, layer in layers.items():
            layer.weight.abs()
            layer.weight.clone().masked_fill_(pruned[name], 0)

    times = interleaved({"floor": floor, "magnitude": magnitude}, repeats, between=restore)
    ratio = median_ratio(times["magnitude"], times["floor"])
    print(f"{component}: {len(layers)} Linear layers, {count / 1e6:.0f} M weights, {torch.get_num_threads()} threads")
    print(f"  abs + clone + masked_fill: {fmt(times['floor'])}")
    print(f"  magnitude (prune_component): {fmt(times['magnitude'])}")
    print("  " + verdict("magnitude / floor", ratio, TARGET), flush=True)
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--components", nargs="+", default=["text_encoder", "unet"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sparsity", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    for component in args.components:
        benchmark(component, args.repeats, args.sparsity)


if __name__ == "__main__":
    main()
