"""DVS128 Gesture (Amir et al. 2017): 11 hand and arm gestures by 29 people under 3 lightings, DVS128."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from neuroclip.datasets.base import EventDataset, Record, find_root, relative_key, split_records
from neuroclip.datasets.classnames import DVS128_GESTURE
from neuroclip.datasets.splitting import check_split, split_spec
from neuroclip.errors import ConfigError, EventFileError
from neuroclip.events import EventStream, make_events, read_events

_TRIAL = re.compile(r"^user(\d+)_.+\.aedat$")
_TONIC_FOLDERS = {"train": "ibmGestureTrain", "test": "ibmGestureTest"}


def _is_official(folder: Path) -> bool:
    return (folder / "trials_to_train.txt").is_file() or any(folder.glob("user*_labels.csv"))


def _is_tonic(folder: Path, split: str | None) -> bool:
    needed = _TONIC_FOLDERS.values() if split is None else [_TONIC_FOLDERS["test" if split == "test" else "train"]]
    return all((folder / name).is_dir() for name in needed)


def read_gesture_labels(path: Path) -> list[tuple[int, int, int]]:
    """The rows ``(class 1..11, startTime_usec, endTime_usec)`` of a DvsGesture ``*_labels.csv``."""
    rows = []
    with open(path, newline="") as fp:
        for number, row in enumerate(csv.reader(fp), start=1):
            cells = [cell.strip() for cell in row if cell.strip()]
            if not cells or (number == 1 and not cells[0].isdigit()):  # the header line
                continue
            try:
                label, start, stop = (int(cell) for cell in cells[:3])
            except ValueError:
                raise EventFileError(path, f"line {number} is not 'class,startTime_usec,endTime_usec': {row}") \
                    from None
            if not 1 <= label <= len(DVS128_GESTURE) or stop <= start:
                raise EventFileError(path, f"line {number} has class {label} (expected 1..11) or an empty window "
                                           f"[{start}, {stop})")
            rows.append((label, start, stop))
    return rows


def _trial_user(name: str) -> int | None:
    match = _TRIAL.match(name)
    return int(match.group(1)) if match else None


class DVS128Gesture(EventDataset):
    """DVS128 Gesture, 128x128; labels 0..10 are the csv classes 1..11 (see ``classnames.DVS128_GESTURE``).

    Official layout, as ``DvsGesture.tar.gz`` (IBM) unpacks::

        root/DvsGesture/user01_fluorescent.aedat          AEDAT 3.1, one trial: one person, one lighting
        root/DvsGesture/user01_fluorescent_labels.csv     class,startTime_usec,endTime_usec per gesture
        root/DvsGesture/trials_to_train.txt               the 98 training trials (users 1-23)
        root/DvsGesture/trials_to_test.txt                the 24 test trials (users 24-29)

    (``root`` may be the ``DvsGesture`` folder itself.) A trial holds about 12 labelled gestures; a sample is one
    ``(file, [startTime_usec, endTime_usec))`` window: ``dataset[i]`` reads the trial (the last one read is kept)
    and cuts the window with :meth:`EventStream.slice_time`, timestamps unchanged, as spikingjelly cuts them.
    ``.windows`` lists the windows beside ``.samples``.

    ``download=True`` fetches tonic's preprocessed copy instead (``tonic.datasets.DVSGesture``; the official
    archive needs a browser login): ``root/DVSGesture/ibmGestureTrain/<trial>/<label>.npy`` (and
    ``ibmGestureTest``), one gesture per file, timestamps in milliseconds. Files are named by label, so a class
    that a trial repeats keeps one window (tonic's tests count 1,077 / 264 samples; spikingjelly cuts 1,176 / 288
    from the official archive). Numbers on it are not comparable with papers; use the official archive for those.

    ``'test'`` is the official test set; ``'val'`` holds out whole training trials (``splits/dvs128gesture.json``).
    """

    name = "dvs128gesture"
    TITLE = "DVS128 Gesture"
    LAYOUT = ("root/DvsGesture/user*_*.aedat with user*_*_labels.csv and trials_to_train.txt / trials_to_test.txt "
              "(or tonic's root/DVSGesture/ibmGestureTrain/<trial>/<label>.npy)")
    SENSOR_SIZE = (128, 128)
    TONIC_FOLDER = "DVSGesture"

    @classmethod
    def locate(cls, root, split: str | None = None) -> Path | None:
        official = find_root(root, ["", "DvsGesture", "DVS128Gesture/DvsGesture", "extract/DvsGesture"], _is_official)
        if official is not None:
            return official
        return find_root(root, ["", cls.TONIC_FOLDER], lambda folder: _is_tonic(folder, split))

    def __init__(self, root, split: str = "test", transform=None, download: bool = False):
        check_split(split, self.TITLE)
        folder = self.resolve_root(root, split, download)
        self.layout = "official" if _is_official(folder) else "tonic"
        listing = self._official_records if self.layout == "official" else self._tonic_records
        records = split_records(split, self.name, lambda: listing(folder, "train"), lambda: listing(folder, "test"))
        super().__init__(folder, split, records, DVS128_GESTURE, self.SENSOR_SIZE, transform)
        self._last_trial: tuple[Path, EventStream] | None = None

    @staticmethod
    def _trials(folder: Path, which: str) -> list[Path]:
        listed = folder / f"trials_to_{which}.txt"
        if listed.is_file():
            names = [line.strip() for line in listed.read_text().splitlines() if line.strip()]
        else:
            first, last = split_spec("dvs128gesture")["test"][f"{which}_users"]
            names = sorted(path.name for path in folder.glob("user*_*.aedat")
                           if (user := _trial_user(path.name)) is not None and first <= user <= last)
        missing = [name for name in names if not (folder / name).is_file()
                   or not (folder / f"{Path(name).stem}_labels.csv").is_file()]
        if missing:
            raise ConfigError(f"{folder} lacks {len(missing)} trial(s) of the {which} split or their _labels.csv, "
                              f"e.g. {missing[:3]}: the DvsGesture folder is incomplete; unpack DvsGesture.tar.gz "
                              "again")
        if not names:
            raise ConfigError(f"no {which} trials (user*_*.aedat) in {folder}")
        return [folder / name for name in names]

    def _official_records(self, folder: Path, which: str) -> list[Record]:
        records = []
        for trial in self._trials(folder, which):
            file = relative_key(trial, folder)
            rows = read_gesture_labels(folder / f"{trial.stem}_labels.csv")
            for row, (label, start, stop) in enumerate(rows):
                records.append(Record(file, label - 1, (start, stop), key=f"{file}#{row}"))
        return records

    @staticmethod
    def _tonic_records(folder: Path, which: str) -> list[Record]:
        split_folder = folder / _TONIC_FOLDERS[which]
        records = []
        for trial in sorted(p for p in split_folder.iterdir() if p.is_dir()):
            for path in sorted(trial.glob("*.npy"), key=lambda p: (len(p.stem), p.stem)):
                if not path.stem.isdigit() or int(path.stem) >= len(DVS128_GESTURE):
                    raise ConfigError(f"{path}: tonic's DVSGesture files are named <label 0..10>.npy")
                records.append(Record(relative_key(path, folder), int(path.stem), group=relative_key(trial, folder)))
        if not records:
            raise ConfigError(f"no recordings (<label>.npy) under {split_folder}/<trial>/")
        return records

    @property
    def windows(self) -> list[tuple[int, int] | None]:
        """Each sample's ``[start_us, stop_us)`` window in its trial (None for tonic's one-gesture files)."""
        return [r.window for r in self.records]

    def read(self, index: int) -> EventStream:
        record, path = self._record(index), self.path(index)
        if record.window is None:
            return _read_tonic_npy(path, self.SENSOR_SIZE)
        if self._last_trial is None or self._last_trial[0] != path:
            # trial files are sorted on reading: a sample is a time window of one
            self._last_trial = (path, read_events(path, sensor_size=self.SENSOR_SIZE, sort=True))
        return self._last_trial[1].slice_time(*record.window)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_last_trial"] = None  # DataLoader workers start with an empty cache rather than a copy of ours
        return state


def _read_tonic_npy(path: Path, sensor_size) -> EventStream:
    """tonic's preprocessed gesture: a [N, 4] array of columns x, y, p, t with t in milliseconds."""
    try:
        array = np.load(path, allow_pickle=False)
    except Exception as error:  # numpy raises many kinds on a damaged file
        raise EventFileError(path, f"is not a readable numpy file ({type(error).__name__}: {error})") from None
    if array.ndim != 2 or array.shape[1] != 4 or array.dtype.kind not in "iuf":
        raise EventFileError(path, f"expected tonic's [N, 4] (x, y, p, t in ms) array, got {array.shape} "
                                   f"{array.dtype}")
    t = np.round(array[:, 3].astype(np.float64) * 1000).astype(np.int64)
    order = np.argsort(t, kind="stable")
    events = make_events(t[order], array[order, 0], array[order, 1], array[order, 2] > 0)
    try:
        return EventStream(events, sensor_size, {"format": "tonic_dvsgesture_npy", "time_unit": "ms, as us"})
    except Exception as error:
        raise EventFileError(path, f"holds invalid events: {error}") from None
