import pytest

from archsim.terminal_table import format_table


def test_columns_pad_to_the_widest_cell_and_align_as_asked():
    text = format_table(["model", "acc", "note"], [["resnet18", "0.979", "ok"], ["vit", "0.96", "a longer note"]],
                        "<><")
    assert text.split("\n") == ["model       acc  note",
                                "resnet18  0.979  ok",
                                "vit        0.96  a longer note"]


def test_default_alignment_is_first_left_then_right():
    assert format_table(["a", "bb"], [["xyz", "1"]]) == "a    bb\nxyz   1"


@pytest.mark.parametrize("rows, align", [([["1"]], None), ([["1", "2"]], "<"), ([["1", "2"]], "<^")])
def test_bad_rows_or_alignment_raise(rows, align):
    with pytest.raises(ValueError):
        format_table(["a", "b"], rows, align)
