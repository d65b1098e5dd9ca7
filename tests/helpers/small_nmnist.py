"""A few real N-MNIST recordings as a dataset, for cache and distributed tests."""

from __future__ import annotations

from neuroclip.datasets import NMNIST


class FirstSamples:
    """The first ``per_class`` recordings of each digit of the real N-MNIST folder, read lazily."""

    def __init__(self, root, per_class: int = 2):
        full = NMNIST(root, split="train")
        self.samples = [s for digit in range(10) for s in [x for x in full.samples if x[1] == digit][:per_class]]
        self.name, self.root, self.split = "nmnist", full.root, "train"
        self._full = full

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        from neuroclip import read_events

        path, label = self.samples[index]
        return read_events(path, sensor_size=(34, 34)), label
