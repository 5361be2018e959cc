"""Wanda on the sd2-random text encoder (calibration + pruning) against two plain passes of its prompts.

Wanda's unavoidable work is one forward per prompt to collect input norms plus one
to make the next group's inputs from the pruned blocks (sequential calibration);
the reference is therefore those prompts run through the text encoder twice, with
the same feed and batch size. Each repeat times one reference pass, Wanda, and a
second reference pass, in that order (weights restored after Wanda, untimed); the
ratio is Wanda over the two passes around it. Target: <= 1.5x.

    python benchmarks/wanda_text_encoder.py           # 128 prompts, ~8 min
    python benchmarks/wanda_text_encoder.py --prompts 16 --layers 4 --repeats 2    # a quick look
    SDPRUNE_SRC=/other/checkout/src python benchmarks/wanda_text_encoder.py ...    # another version's code
"""

from __future__ import annotations

import argparse
import itertools
from types import SimpleNamespace

from _common import build_component, fmt, median_ratio, seconds, verdict

TARGET = 1.5
SUBJECTS = ["a red fox", "an old lighthouse", "a bowl of ramen", "a city street", "a sailing boat", "a teddy bear",
            "a mountain lake", "a vintage car"]
SETTINGS = ["at dawn", "in the rain", "under neon lights", "in a snowy forest", "on a sunny beach", "at night",
            "in watercolour", "as a pencil sketch", "in a busy market", "from above", "in fog", "in autumn",
            "on the moon", "in a museum", "at golden hour", "in a storm"]


def calibration_prompts(count: int) -> list[str]:
    prompts = [f"{subject} {setting}" for subject, setting in itertools.product(SUBJECTS, SETTINGS)]
    return (prompts * (count // len(prompts) + 1))[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=1, help="prompts per forward (the config default: 1)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--layers", type=int, help="fewer text-encoder blocks than SD2's 23 (a quick look)")
    args = parser.parse_args()

    import torch

    from sdprune.models.build import build_tokenizer
    from sdprune.models.components import find_layers
    from sdprune.pruning.calibration import CalibrationSettings, CalibrationState, make_feed
    from sdprune.pruning.prune import prune_component
    from sdprune.pruning.spec import PruneSpec

    torch.set_num_threads(args.threads)
    module = build_component("text_encoder", text_layers=args.layers)
    pipe = SimpleNamespace(text_encoder=module, tokenizer=build_tokenizer())
    prompts = calibration_prompts(args.prompts)
    settings = CalibrationSettings(batch_size=args.batch_size)
    layers = find_layers(module)
    dense = {name: layer.weight.detach().clone() for name, layer in layers.items()}
    feed = make_feed(pipe, "text_encoder", settings, prompts)

    def one_pass():
        feed(CalibrationState())

    def wanda():
        return prune_component(pipe, "text_encoder", PruneSpec("wanda", sparsity=0.5), prompts=prompts,
                               calibration=settings)

    passes, wandas, reports = [], [], []
    for _ in range(args.repeats):
        first = seconds(one_pass)
        wandas.append(seconds(lambda: reports.append(wanda().report)))
        with torch.no_grad():  # untimed: the dense weights back for the second pass and the next repeat
            for name, layer in layers.items():
                layer.weight.copy_(dense[name])
        passes.append(first + seconds(one_pass))
    realised = reports[-1]["realised_sparsity"]
    print(f"text_encoder ({module.config.num_hidden_layers} blocks): {args.prompts} prompts x 77 tokens, batch {args.batch_size}, {torch.get_num_threads()} "
          f"threads; Wanda 50 %, realised {realised:.4f}")
    print(f"  two plain passes: {fmt(passes)}")
    print(f"  wanda (calibration + pruning, prune_component): {fmt(wandas)}")
    print("  " + verdict("wanda / two passes", median_ratio(wandas, passes), TARGET), flush=True)


if __name__ == "__main__":
    main()
