"""The one writer of outputs: atomic, with the umask's permissions, and checks that refuse impossible outputs."""

import os
import stat

import pytest

import neuroclip.outputs as outputs
from neuroclip.errors import ConfigError


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_written_files_get_the_umasks_mode(tmp_path, monkeypatch, umask, mode):
    previous = os.umask(umask)
    monkeypatch.setattr(outputs, "_UMASK", None)  # read the umask anew
    try:
        path = outputs.atomic_write(tmp_path / "result.json", lambda fp: fp.write(b"{}"))
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == mode and path.read_bytes() == b"{}"
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]  # no temporary file left


def test_an_interrupted_write_leaves_the_old_file(tmp_path):
    path = outputs.atomic_write(tmp_path / "a.txt", lambda fp: fp.write(b"old"))

    def fails(fp):
        fp.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        outputs.atomic_write(path, fails)
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_impossible_outputs_are_refused_with_the_reason(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a folder; give a file name"):
        outputs.check_output_file(tmp_path, "--out")
    with pytest.raises(ConfigError, match="is a file, so no folder can be made there"):
        outputs.check_output_file(tmp_path / "file" / "r.json", "--out")
    with pytest.raises(ConfigError, match="must end in .png"):
        outputs.check_output_file(tmp_path / "plot.jpg", "--plot", suffixes=(".png",))
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        outputs.check_output_dir(tmp_path / "file", "--out")
    assert outputs.check_output_dir(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
