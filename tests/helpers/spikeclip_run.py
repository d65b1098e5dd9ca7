"""Run one SpikeCLIP stage from a JSON config in its own process (also under torchrun); one CPU thread, so that
results match an in-process run bit for bit. ``--sleep S`` pauses after every step (a slow run to kill)."""

import argparse
import json
import time

import torch

from neuroclip.spikeclip.config import load_stage_config
from neuroclip.spikeclip.train import run_stage


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--sleep", type=float, default=0.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = load_stage_config(json.loads(open(args.config).read()))
    on_step = (lambda state: time.sleep(args.sleep)) if args.sleep else None
    run_stage(config, resume=args.resume, on_step=on_step)


if __name__ == "__main__":
    main()
