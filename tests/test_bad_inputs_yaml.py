"""Bad inputs, part 3: YAML tricks in a config (docs/run-store.md, "Bad inputs and faults"), one case each.

Every case ends `archsim sat` with exit status 2 and one line naming the file and the line, before any model is
built, and changes nothing in the previous run's folder. Alias bombs are refused before they are expanded: in
seconds, with a short line, never a value of 10^9 elements.
"""

import json
import time

import pytest
import yaml
from bad_input_fixtures import CONFIG, run_cli, snapshot, write_config

from archsim.config import load_config
from archsim.errors import ArchsimError
from archsim.yaml_loader import MAX_FILE_BYTES, load_yaml


def config_text(cfg: dict = CONFIG) -> str:
    """The config as YAML, without anchors of its own (its models share one kwargs mapping)."""
    return yaml.safe_dump(json.loads(json.dumps(cfg)), sort_keys=False)


def bomb(old: str, new: str) -> str:
    """A small config whose line `old` becomes `new`, holding an alias of 10^9 expanded values (`*l8`, nine levels of
    ten aliases each); `old` empty: `new` is added at the end."""
    anchors = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    anchors += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 9)]
    text = config_text().replace(old, new, 1) if old else config_text() + new + "\n"
    return "\n".join(anchors) + "\n" + text


def repeated_models(tmp):
    """The issue's case: a second `models:` list that would quietly replace the first."""
    second = yaml.safe_dump({"models": [CONFIG["models"][0]]})
    return config_text() + second


def nested_repeat(tmp):
    text = config_text()
    return text.replace("  label: a\n", "  label: a\n  seed: 3\n  seed: 4\n", 1)


def cycle(tmp):
    return config_text().replace("  kwargs:\n", "  kwargs: &k\n    self: *k\n", 1)


def deep(tmp):
    return config_text().replace("  kwargs:\n", "  kwargs:\n    deep: " + "[" * 70 + "]" * 70 + "\n", 1)


def refused_tag(tag):
    return lambda tmp: config_text().replace("label: a", f"label: !!{tag} " + ("aGk=" if tag == "binary" else "{a}"))


def long_value(tmp):
    """No alias, a long literal list under seed: the line quotes a short prefix of it."""
    return config_text().replace("seed: 0", "seed: [" + ", ".join(str(i) for i in range(20000)) + "]", 1)


def two_documents(tmp):
    return config_text() + "---\n" + config_text()


YAML_CASES = {
    "repeated-models": (repeated_models, "key 'models' is given twice in one mapping (first on line "),
    "repeated-key-in-a-model": (nested_repeat, "key 'seed' is given twice in one mapping"),
    "alias-bomb-seed": (lambda tmp: bomb("seed: 0", "seed: *l8"), "values, more than 1,000,000 beyond the "),
    "alias-bomb-ensemble": (lambda tmp: bomb("", "ensemble: {measures: *l8}"), "values, more than 1,000,000 beyond"),
    "alias-bomb-label": (lambda tmp: bomb("label: a", "label: *l8"), "values, more than 1,000,000 beyond the "),
    "alias-cycle": (cycle, "an alias refers to a node that holds it (a cycle)"),
    "nested-too-deep": (deep, "levels deep; at most 64"),
    "tag-set": (refused_tag("set"), "!!set is not allowed"),
    "tag-binary": (refused_tag("binary"), "!!binary is not allowed"),
    "long-value": (long_value, "seed must be a whole number, got [0, 1, 2, 3, 4, 5, ...]"),
    "two-documents": (two_documents, "expected a single document in the stream, but found another document"),
}


@pytest.mark.parametrize("case", sorted(YAML_CASES))
def test_a_yaml_trick_is_one_line_before_any_work(case, prev, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("archsim.cli.sat.build_run", lambda *a, **k: pytest.fail("built the run"))
    make, words = YAML_CASES[case]
    config = tmp_path / "bad.yaml"
    config.write_text(make(tmp_path))
    before = snapshot(prev)
    start = time.perf_counter()
    rc, _, err = run_cli(capsys, "sat", "--config", config, "--out", prev, "--no-progress")
    assert rc == 2 and len(err) == 1, err
    assert err[0].startswith("archsim sat: error: ") and words in err[0], err[0]
    assert case == "long-value" or f"error: {config}" in err[0], err[0]  # the YAML's own faults name the file
    assert len(err[0]) < 400 and time.perf_counter() - start < 30, (len(err[0]), time.perf_counter() - start)
    assert snapshot(prev) == before


def test_a_repeated_key_names_both_lines():
    with pytest.raises(ArchsimError) as caught:
        load_yaml("seed: 0\ndata: {}\nseed: 1\n", "c.yaml")
    assert str(caught.value) == ("c.yaml, line 3, column 1: key 'seed' is given twice in one mapping (first on line 1); "
                                 "keep one (YAML would silently use the last)")


def test_the_yaml_that_stays_allowed():
    """Merge keys may be overridden, a few aliases are fine, a date stays text, numbers and null load as YAML says."""
    text = ("base: &base {name: resnet18, kwargs: {num_classes: 10}}\n"
            "models:\n  - {<<: *base, label: a}\n  - {<<: *base, label: 2024-01-01, name: resnet34}\n"
            "shared: [*base, *base]\nn: 1_000\nx: .5\nnothing: null\n")
    data = load_yaml(text, "c.yaml")
    assert data["models"] == [{"name": "resnet18", "kwargs": {"num_classes": 10}, "label": "a"},
                              {"name": "resnet34", "kwargs": {"num_classes": 10}, "label": "2024-01-01"}]
    assert data["shared"] == [data["base"]] * 2 and (data["n"], data["x"], data["nothing"]) == (1000, 0.5, None)


def test_a_set_value_is_read_by_the_same_loader(good, tmp_path, capsys):
    rc, _, err = run_cli(capsys, "similarity", "--measure", "cka", "--config", good["config"], "--out", tmp_path / "o",
                         "--set", "layer={a: 1, a: 2}")
    assert rc == 2 and len(err) == 1, err
    assert "--set layer, line 1, column 8: key 'a' is given twice in one mapping (first on line 1)" in err[0], err


def test_a_config_over_the_size_limit_is_refused_unread(tmp_path):
    config = tmp_path / "huge.yaml"
    with open(config, "wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)  # sparse: nothing to read, the size alone refuses it
    with pytest.raises(ArchsimError, match=f"is {MAX_FILE_BYTES + 1:,} bytes; a config holds at most"):
        load_config(config)


def test_many_models_load_in_linear_time(tmp_path):
    """The repeated-label check counted each label against all others: minutes at 110,000 models."""
    models = [{"name": "resnet18", "label": f"m{i}"} for i in range(30000)] + [{"name": "resnet18", "label": "m7"}]
    config = write_config(tmp_path / "many.yaml", {"data": {"source": "digits"}, "models": models})
    start = time.perf_counter()
    with pytest.raises(ArchsimError, match="model labels must be unique; repeated: m7"):
        load_config(config)
    assert time.perf_counter() - start < 60
