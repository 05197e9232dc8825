"""``projdiff tumor finetune-adversarial``: train the lesion prior and the discriminator against each other
(experimental; see ``projdiff.apps.tumor.adversarial``)."""

from __future__ import annotations

import argparse

from projdiff.apps.arguments import add_device_options, finite, positive, seed
from projdiff.apps.base import Command


def add_arguments(p: argparse.ArgumentParser) -> None:
    from projdiff.apps.tumor.adversarial import AdversarialConfig

    defaults = AdversarialConfig()
    p.add_argument("--data", default="runs/data/lesions", help="lesion-crop cache (projdiff data lesions)")
    p.add_argument("--prior", default="bundled:lesions", help="lesion prior to fine-tune")
    p.add_argument("--discriminator", default="bundled:tumor-discriminator", help="discriminator to start from")
    p.add_argument("--judge", default="bundled:tumor-judge", help="frozen tumor judge in the generator's loss")
    p.add_argument("--out", required=True, help="output folder (prior/, discriminator/, log.jsonl, info.json)")
    p.add_argument("--steps", type=positive(int), default=defaults.steps)
    p.add_argument("--batch-size", type=positive(int), default=defaults.batch_size)
    p.add_argument("--adversarial-weight", type=finite, default=defaults.adversarial_weight)
    p.add_argument("--judge-weight", type=finite, default=defaults.judge_weight)
    p.add_argument("--seed", type=seed, default=defaults.seed)
    add_device_options(p, dtype=False)


def run(args: argparse.Namespace) -> int:
    from projdiff.apps.arguments import device_of
    from projdiff.apps.tumor.adversarial import AdversarialConfig, adversarial_finetune

    config = AdversarialConfig(steps=args.steps, batch_size=args.batch_size, adversarial_weight=args.adversarial_weight,
                               judge_weight=args.judge_weight, seed=args.seed)
    info = adversarial_finetune(args.data, args.prior, args.discriminator, args.judge, args.out, config,
                                device=device_of(args.device))
    print(f"saved {args.out}: held-out denoising loss {info['heldout_denoising_loss']}, "
          f"last 50 steps {info['last_50_steps']}")
    return 0


COMMAND = Command("finetune-adversarial", "fine-tune the lesion prior against the discriminator (experimental)",
                  add_arguments, run,
                  epilog="example:\n  projdiff tumor finetune-adversarial --data runs/data/lesions --prior "
                         "runs/lesion-prior --discriminator runs/tumor-discriminator --judge runs/tumor-judge "
                         "--out runs/adversarial --steps 600")
