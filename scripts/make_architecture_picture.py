"""Draw docs/images/architecture.png: the one-way flow file -> EventStream -> frames -> features -> head, with the
module that holds each stage.

    python scripts/make_architecture_picture.py [OUT]
"""

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

# (title, module, x centre, y centre)
STAGES = [
    ("recording file", "events/io/<format>.py\nread_events", 1.4, 2.6),
    ("EventStream", "events/stream.py\nt, x, y, p, sensor size", 4.3, 2.6),
    ("frames", "frames/functional.py\nT segments, encodings", 7.2, 2.6),
    ("CLIP input", "frames/clip_input.py\nFrameConfig", 10.1, 2.6),
    ("features", "clip/backbone.py\nclip/extract.py, cache.py", 13.0, 2.6),
]
HEADS = [
    ("zero-shot", "clip/zeroshot.py\nprompts: clip/prompts.py", 16.3, 3.6),
    ("few-shot adapter", "fewshot/adapter.py\nshots: fewshot/protocol.py", 16.3, 2.3),
]
SPIKECLIP = ("SpikeCLIP (spiking towers)", "spikeclip/model.py on count frames\nstages: spikeclip/stages.py", 16.3,
             0.8)
SIDE = [
    ("cli/", "options.py, main.py", 1.4, 0.8),
    ("datasets/", "<name>.py + registry.py", 4.3, 0.8),
    ("recognize.py", "files -> the chosen head", 7.2, 0.8),
]


def box(ax, x, y, title, detail, colour, width=2.6, height=1.0):
    ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height, boxstyle="round,pad=0.03",
                                facecolor=colour, edgecolor="#333333", linewidth=1.0))
    ax.text(x, y + 0.2, title, ha="center", va="center", fontsize=10, weight="bold")
    ax.text(x, y - 0.16, detail, ha="center", va="center", fontsize=7, family="monospace")


def arrow(ax, start, end):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, color="#333333", linewidth=1.2))


def main(out: Path) -> None:
    fig, ax = plt.subplots(figsize=(17, 5))
    for title, detail, x, y in STAGES:
        box(ax, x, y, title, detail, "#dbe9f6")
    for (_, _, x0, y0), (_, _, x1, y1) in zip(STAGES, STAGES[1:]):
        arrow(ax, (x0 + 1.3, y0), (x1 - 1.3, y1))
    for title, detail, x, y in HEADS:
        box(ax, x, y, title, detail, "#fde4c8", width=3.0)
        arrow(ax, (14.3, 2.6), (x - 1.5, y))
    title, detail, x, y = SPIKECLIP
    box(ax, x, y, title, detail, "#fde4c8", width=3.0)
    arrow(ax, (7.2, 2.1), (x - 1.5, y))  # the spiking image tower reads count frames, not CLIP features
    for title, detail, x, y in SIDE:
        box(ax, x, y, title, detail, "#e8e8e8", width=2.6, height=0.8)
    arrow(ax, (4.3, 1.2), (4.3, 2.1))  # datasets yield EventStreams
    ax.text(9.0, 4.5, "data flows one way: file -> EventStream -> frames -> features -> head", ha="center",
            fontsize=12)
    ax.set_xlim(0.0, 17.9)
    ax.set_ylim(0.2, 4.8)
    ax.axis("off")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    print(f"wrote {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "images" / "architecture.png")
