"""archsim.options: the one option checker, on hand-made sections."""

import math

import pytest

from archsim.errors import ArchsimError
from archsim.options import Option, check_section

SPEC = {"k": Option(3, "int", minimum=1), "rate": Option(0.5, "float", minimum=0, maximum=1),
        "t": Option(4.0, "float", minimum=0, above=True), "on": Option(False, "bool"),
        "how": Option("a", "choice", choices=("a", "b")), "names": Option(None, "names", nullable=True, what="labels"),
        "cap": Option(None, "int", minimum=1, nullable=True)}


def test_defaults_fill_in_and_given_values_stay_as_given():
    assert check_section(None, SPEC, "s") == {"k": 3, "rate": 0.5, "t": 4.0, "on": False, "how": "a", "names": None,
                                              "cap": None}
    out = check_section({"k": 7, "rate": 1, "names": "x, y", "cap": 2}, SPEC, "s")
    assert out["k"] == 7 and out["rate"] == 1 and isinstance(out["rate"], int)  # not converted: cache keys stay
    assert out["names"] == ["x", "y"] and out["cap"] == 2


@pytest.mark.parametrize("raw, message", [
    ({"kk": 1}, "unknown key 'kk' in s; allowed: cap, how, k, names, on, rate, t"),
    ({"k": 0}, "s.k must be a whole number >= 1, got 0"), ({"k": True}, "s.k must be a whole number >= 1, got True"),
    ({"k": 2.0}, "s.k must be a whole number >= 1, got 2.0"),
    ({"rate": 1.5}, r"s.rate must be a number in \[0, 1\], got 1.5"),
    ({"rate": math.nan}, r"s.rate must be a number in \[0, 1\], got nan"),
    ({"t": 0}, "s.t must be a number > 0, got 0"), ({"t": math.inf}, "s.t must be a number > 0, got inf"),
    ({"on": "yes"}, "s.on must be true or false, got 'yes'"), ({"how": "c"}, "s.how must be one of a, b, got 'c'"),
    ({"names": [1]}, r"s.names must be a list of labels, got \[1\]"), ({"k": None}, "s.k must be a whole number"),
    ("k=1", "`s` must be a mapping")])
def test_bad_values_name_the_place_and_the_value(raw, message):
    with pytest.raises(ArchsimError, match=message):
        check_section(raw, SPEC, "s")
