"""Atomic writes: a failure leaves neither a partial file nor a temporary one."""

import csv

import pytest

from archsim.files import atomic_path, write_rows


def test_failure_keeps_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "t.csv"
    write_rows(path, ["a", "b"], [(1, 0.123456789)])
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash while writing")
    assert list(csv.reader(open(path))) == [["a", "b"], ["1", "0.123457"]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]
