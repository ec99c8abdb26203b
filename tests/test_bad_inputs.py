"""The catalogue of bad inputs and faults (docs/run-store.md, "Bad inputs and faults"), one case each.

Every bad input must end the command with exit status 2 and exactly one line on
stderr, `archsim CMD: error: ...`, naming the problem; no traceback, and the
outputs of the previous good run left exactly as they were. The faults (damaged
cached weights, a damaged store, a deleted adversarial set, leftover temporary
files, a renamed label) must be noticed and repaired or reported. Everything
runs on a tiny digits zoo (16 px, 2 images per class, 1 training epoch).
"""

import os
import shutil
import sqlite3
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
import yaml
from bad_input_fixtures import CONFIG, OUTPUTS, read_only, run_cli, snapshot, write_config
from PIL import Image
from safetensors.torch import save_file

from archsim.errors import ArchsimError
from archsim.files import all_or_nothing, write_rows
from archsim.zoo.weights_cache import load_cached, save_cached

# -- the bad inputs: each a config change (or a setup) and the words the one line must contain ----------------------

def with_model(**changes):
    return lambda cfg, tmp: {**cfg, "models": [{**cfg["models"][0], **changes}, cfg["models"][1]]}


def with_top(**changes):
    return lambda cfg, tmp: {**cfg, **changes}


def with_train(**changes):
    return lambda cfg, tmp: {**cfg, "train": {**cfg["train"], **changes}}


def with_checkpoint(make):
    """The first model loads a checkpoint file that `make(path)` writes."""
    def change(cfg, tmp):
        path = make(tmp)
        return with_model(checkpoint=str(path))(cfg, tmp)
    return change


def safetensors_file(content: bytes | None, name="w.safetensors"):
    def make(tmp):
        path = tmp / name
        if content is None:  # a real file, truncated
            save_file({"w": torch.randn(64, 64)}, str(path))
            path.write_bytes(path.read_bytes()[:-5000])
        else:
            path.write_bytes(content)
        return path
    return make


def pickled_code(tmp):
    path = tmp / "w.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "hook": print}, path)  # a function: pickled code
    return path


def image_folder(kind: str):
    """An image folder of two classes with one bad file (or, 'one-class', a single class)."""
    def change(cfg, tmp):
        root = tmp / "images"
        for c in ("cat", "dog"):
            (root / c).mkdir(parents=True)
            for i in range(3):
                Image.new("RGB", (20, 20), (40 * i, 90, 200)).save(root / c / f"{i}.jpg")
        if kind == "not-an-image":
            (root / "dog" / "9.jpg").write_text("this is a text file")
        elif kind == "truncated":
            data = (root / "dog" / "0.jpg").read_bytes()
            (root / "dog" / "0.jpg").write_bytes(data[:len(data) // 2])
        else:
            shutil.rmtree(root / "dog")
        return {**cfg, "data": {"source": "imagefolder", "root": str(root), "resolution": 16}}
    return change


CONFIG_CASES = {
    # item 2: eps_s at or below 0 would make SAT's log undefined
    "eps_s-zero": (with_top(eps_s=0), "eps_s must be a number > 0, got 0"),
    "eps_s-negative": (with_top(eps_s=-0.5), "eps_s must be a number > 0, got -0.5"),
    "eps_s-above-every-rate": (with_top(eps_s=150), "eps_s must be a number in (0, 100), a floor in percent below "
                                                     "the largest possible 100 x transfer rate (100); got 150"),
    # item 9: every value's type and range
    "batch_size-zero": (with_top(batch_size=0), "batch_size must be a whole number >= 1, got 0"),
    "lr-word": (with_train(lr="fast"), "train.lr must be a number > 0, got 'fast'"),
    "input_size-word": (with_model(input_size="big"), "models[0].input_size must be a whole number >= 1"),
    "input_size-zero": (with_model(input_size=0), "models[0].input_size must be a whole number >= 1"),
    "seed-word": (with_model(seed="x"), "models[0].seed must be a whole number, got 'x'"),
    "interpolation": (with_model(interpolation="cubic"), "models[0].interpolation must be one of"),
    "mean-length": (with_model(mean=[0.5, 0.5]), "models[0].mean must be a list of 1 or 3 numbers"),
    "noise_warning": (with_top(noise_warning=2), "noise_warning must be a number in [0, 1], got 2"),
    # item 12: likely mistakes that are errors
    "std-zero": (with_model(std=[0, 0, 0]), "models[0].std must be above 0 in every channel"),
    "epochs-zero": (with_train(epochs=0), "train.epochs must be a whole number >= 1, got 0"),
    "model-epochs-zero": (with_model(train={"epochs": 0}), "models[0].train.epochs must be a whole number >= 1"),
    "one-class-folder": (image_folder("one-class"), "holds images of 1 class ('cat')"),
    # item 11: labels that cannot name a file
    "label-nul": (with_model(label="a\x00b"), "models[0].label must be printable text"),
    "label-300": (with_model(label="x" * 300), "models[0].label is 300 characters long; at most 100"),
    # item 7, 8: checked with one forward pass when the run is built, before training
    "patch-too-big": (with_model(name="convnext_atto", kwargs={"num_classes": 10, "patch_size": 32}),
                      "model 'a' cannot take (3, 16, 16) images"),
    "too-few-classes": (with_model(kwargs={"num_classes": 5, "channels": [8, 16, 32, 64]}),
                        "model 'a' has 5 outputs, but the data has 10 classes"),
    # item 5, 16: checkpoints
    "checkpoint-truncated": (with_checkpoint(safetensors_file(None)), "is not a readable safetensors file"),
    "checkpoint-random": (with_checkpoint(safetensors_file(os.urandom(3000))), "is not a readable safetensors file"),
    "checkpoint-bad-header": (with_checkpoint(safetensors_file(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}  ")),
                              "is not a readable safetensors file"),
    "checkpoint-pickled-code": (with_checkpoint(pickled_code), "holds pickled code, not only tensors, and is refused"),
    "checkpoint-missing": (with_model(checkpoint="nowhere.safetensors"), "checkpoint not found"),
    "checkpoint-misfit": (with_checkpoint(lambda tmp: (save_file({"w": torch.zeros(2)}, str(tmp / "m.safetensors")),
                                                       tmp / "m.safetensors")[1]),
                          "does not fit the model: missing key"),
    # item 6: image files PIL cannot read, named
    "not-an-image": (image_folder("not-an-image"), "9.jpg: not an image PIL can read"),
    "truncated-jpeg": (image_folder("truncated"), "cannot read image "),  # then PIL's reason, e.g. Truncated File Read
    # what held before: kept as cases
    "unknown-key": (with_top(epochs=3), "unknown key 'epochs' in the config"),
    "duplicate-labels": (lambda cfg, tmp: {**cfg, "models": [cfg["models"][0], cfg["models"][0]]},
                         "model labels must be unique; repeated: a"),
    "unknown-model": (with_model(name="resnet_18"), "unknown timm model 'resnet_18'"),
    "no-models": (with_top(models=[]), "`models` must be a non-empty list"),
    "bad-norm": (lambda cfg, tmp: {**cfg, "attack": {**cfg["attack"], "norm": "L3"}}, "norm"),
    "unknown-source": (lambda cfg, tmp: {**cfg, "data": {"source": "cifar"}}, "unknown data source 'cifar'"),
    "subset-too-large": (lambda cfg, tmp: {**cfg, "data": {**cfg["data"], "subset": {"how": "first", "n": 10 ** 6}}},
                         "is larger than the"),
    "bad-device": (with_top(device="abacus"), "bad device 'abacus'"),
}


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_a_bad_config_is_one_line_and_changes_nothing(case, good, prev, tmp_path, capsys):
    change, words = CONFIG_CASES[case]
    config = write_config(tmp_path / "bad.yaml", change(good["cfg"], tmp_path))
    before = snapshot(prev)
    rc, _, err = run_cli(capsys, "sat", "--config", config, "--out", prev, "--no-progress")
    assert rc == 2 and len(err) == 1, err
    assert err[0].startswith("archsim sat: error: ") and words in err[0], err[0]
    if case == "truncated-jpeg":
        assert "images/dog/0.jpg: " in err[0]
    assert snapshot(prev) == before


def test_the_real_command_prints_one_line_and_no_traceback(good, prev, tmp_path):
    """In a process of its own, as a user runs it: `python -m archsim.cli` (the in-process cases share this path)."""
    config = write_config(tmp_path / "bad.yaml", CONFIG_CASES["label-nul"][0](good["cfg"], tmp_path))
    proc = subprocess.run([sys.executable, "-m", "archsim.cli", "sat", "--config", str(config), "--out", str(prev)],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONWARNINGS": "default"})
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == ["archsim sat: error: models[0].label must be printable text, got 'a\\x00b'"]


def bad_bytes_config(tmp, good):
    path = tmp / "latin1.yaml"
    path.write_bytes(yaml.safe_dump(good["cfg"]).encode() + b"# caf\xe9\n")
    return ["sat", "--config", path, "--out", tmp / "out"]


def not_yaml(tmp, good):
    (tmp / "bad.yaml").write_text("models: [a\n  data: {")
    return ["sat", "--config", tmp / "bad.yaml", "--out", tmp / "out"]


def out_is_a_file(tmp, good):
    (tmp / "file").write_text("x")
    return ["sat", "--config", good["config"], "--out", tmp / "file"]


def matrix_not_utf8(tmp, good):
    (tmp / "m.csv").write_bytes(b",a,b\na,1,0.5\nb,0.5,1\n\xff\xfe")
    return ["analyze", "--matrix", tmp / "m.csv", "--out", tmp / "out"]


def empty_database(tmp, good):
    (tmp / "out" / "store.sqlite").write_bytes(b"")
    for extra in (tmp / "out").glob("store.sqlite-*"):
        extra.unlink()
    return ["sat", "--config", good["config"], "--out", tmp / "out"]


def missing_database(tmp, good):
    (tmp / "out" / "store.sqlite").unlink()
    return ["store", "info", tmp / "out"]


def damaged_page(tmp, good):
    db = tmp / "out" / "store.sqlite"
    data = bytearray(db.read_bytes())
    data[2 * 4096 + 8: 2 * 4096 + 400] = b"\x5a" * 392  # page 3: a b-tree page of the store
    db.write_bytes(bytes(data))
    return ["sat", "--config", good["config"], "--out", tmp / "out"]


def damaged_page_info(tmp, good):
    return ["store", "info", "--verify", damaged_page(tmp, good)[-1]]


def bad_set(tmp, good):
    return ["similarity", "--measure", "cka", "--config", good["config"], "--out", tmp / "out", "--set", "layers=1"]


def no_store(tmp, good):
    return ["store", "gc", tmp / "nothing"]


SETUP_CASES = {
    "config-not-utf8": (bad_bytes_config, "sat", "is not UTF-8 text (byte"),
    "config-not-yaml": (not_yaml, "sat", "is not valid YAML"),
    "config-missing": (lambda tmp, good: ["sat", "--config", tmp / "none.yaml", "--out", tmp / "out"], "sat",
                       "config file not found"),
    "out-is-a-file": (out_is_a_file, "sat", "is a file, not a folder"),
    "matrix-not-utf8": (matrix_not_utf8, "analyze", "m.csv is not UTF-8 text"),
    "empty-database": (empty_database, "sat", "store.sqlite is empty but tensors/ holds 2 file(s); "
                                              "`archsim store reset"),
    "missing-database": (missing_database, "store", "store.sqlite is missing but tensors/ holds"),
    "damaged-page": (damaged_page, "sat", "store.sqlite is damaged"),
    "damaged-page-info": (damaged_page_info, "store", "store.sqlite is damaged"),
    "unknown-measure-option": (bad_set, "similarity", "unknown option 'layers'"),
    "store-not-found": (no_store, "store", "run store folder not found"),
}


@pytest.mark.parametrize("case", sorted(SETUP_CASES))
def test_a_bad_file_or_folder_is_one_line_and_changes_nothing(case, good, prev, tmp_path, capsys):
    setup, command, words = SETUP_CASES[case]
    argv = setup(tmp_path, good)
    before = snapshot(prev)
    rc, _, err = run_cli(capsys, *argv)
    assert rc == 2 and len(err) == 1, err
    assert err[0].startswith(f"archsim {command}: error: ") and words in err[0], err[0]
    assert "\n" not in err[0] and "Traceback" not in err[0]
    if case not in ("empty-database", "missing-database", "damaged-page", "damaged-page-info"):
        assert snapshot(prev) == before
    else:  # the damage itself is the change; the outputs stay
        assert all((prev / name).read_bytes() == before[Path(name)] for name in OUTPUTS)


@pytest.mark.parametrize("command", ["sat", "similarity"])
def test_a_read_only_out_stops_before_any_work(command, good, prev, capsys, monkeypatch):
    monkeypatch.setattr(f"archsim.cli.{command}.build_run", lambda *a, **k: pytest.fail("built the run"))
    before = snapshot(prev)
    undo = read_only(prev)
    try:
        extra = ["--measure", "cka"] if command == "similarity" else []
        rc, _, err = run_cli(capsys, command, *extra, "--config", good["config"], "--out", prev)
    finally:
        undo()
    assert rc == 2 and len(err) == 1 and f"--out {prev}: cannot write there" in err[0], err
    assert snapshot(prev) == before


def test_store_info_reads_a_read_only_store(prev, capsys):
    for extra in prev.glob("store.sqlite-*"):
        extra.unlink()  # as after a clean close: nothing but the database file
    undo = read_only(prev)
    try:
        rc, out, err = run_cli(capsys, "store", "info", "--verify", prev)
    finally:
        undo()
    assert rc == 0, err
    assert "models: 2" in out and "database integrity_check: ok" in out and "checksums: 0 corrupt" in out
    assert not list(prev.glob("store.sqlite-*"))  # it wrote nothing


def test_skip_unreadable_leaves_the_bad_files_out_with_a_count(tmp_path):
    from archsim.zoo.data import describe

    spec = image_folder("not-an-image")(CONFIG, tmp_path)["data"]
    image_folder("truncated")(CONFIG, tmp_path / "t")  # a second folder: one truncated JPEG among 6
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable file\(s\) of 7 in .*images \(the first: .*9.jpg\)"):
        catalog = describe({**spec, "skip_unreadable": True})
    assert len(catalog) == 6 and "dog/9.jpg" not in catalog.ids
    assert catalog.load().images.shape == (6, 3, 16, 16)
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable file\(s\) of 6 .*0.jpg"):
        truncated = describe({**spec, "root": str(tmp_path / "t" / "images"), "skip_unreadable": True})
    assert sorted(truncated.ids) == ["cat/0.jpg", "cat/1.jpg", "cat/2.jpg", "dog/1.jpg", "dog/2.jpg"]


def test_a_large_linf_eps_warns_in_one_line(good, tmp_path, capsys):
    cfg = {**good["cfg"], "attack": {**good["cfg"]["attack"], "eps": 2.0, "steps": 1}}
    rc, _, err = run_cli(capsys, "sat", "--config", write_config(tmp_path / "c.yaml", cfg), "--out", tmp_path / "o",
                         "--no-progress")
    assert rc == 0
    eps = [line for line in err if "attack.eps" in line]
    assert eps == ["warning: attack.eps = 2 is above 0.5 for a Linf attack on pixels in [0, 1] (did you mean 2/255?)"]
    assert not any("UserWarning" in line or line.startswith("<") for line in err), err


# -- the faults ---------------------------------------------------------------------------------------------------

def weights_files(cache: Path) -> list[Path]:
    return sorted((cache / "weights").glob("*.safetensors"))


@pytest.mark.parametrize("damage", ["flipped-bytes", "truncated"])
def test_damaged_cached_weights_are_retrained_with_a_warning(damage, good, tmp_path, capsys):
    cache = tmp_path / "cache"
    shutil.copytree(good["cache"], cache)
    target = weights_files(cache)[0]
    original = target.read_bytes()
    data = bytearray(original)
    if damage == "flipped-bytes":
        for i in range(len(data) - 20_000, len(data) - 19_990):
            data[i] ^= 0xFF  # inside the tensors: the file still parses
    else:
        data = data[: len(data) // 2]
    target.write_bytes(bytes(data))
    config = write_config(tmp_path / "c.yaml", {**good["cfg"], "cache_dir": str(cache)})
    rc, _, err = run_cli(capsys, "sat", "--config", config, "--out", tmp_path / "o", "--no-progress")
    assert rc == 0
    notices = [line for line in err if "cached weights" in line]
    assert len(notices) == 1 and notices[0].startswith("warning: cached weights of model '")
    assert str(target) in notices[0] and "training it again" in notices[0]
    assert target.read_bytes() == original  # trained again, reproducibly: the same weights
    assert (tmp_path / "o" / "sat.csv").read_bytes() == (good["run"] / "sat.csv").read_bytes()


def test_a_checked_cache_loads_and_a_damaged_one_is_refused(tmp_path):
    """The cache the distilled students use too (archsim.zoo.students): load, refuse, or absent."""
    net = torch.nn.Linear(4, 3)
    path, key = tmp_path / "c.safetensors", {"student": "s", "seed": 0}
    save_cached(net, path, key)
    copy = torch.nn.Linear(4, 3)
    assert load_cached(copy, path, key, "student 's'") and torch.equal(copy.weight, net.weight)
    with pytest.warns(UserWarning, match="damaged"):  # another key: not the file for it
        assert not load_cached(copy, path, {"student": "s", "seed": 1}, "student 's'")
    path.write_bytes(path.read_bytes()[:-4] + b"\x00\x00\x00\x01")
    with pytest.warns(UserWarning, match="cached weights of student 's' at .* damaged"):
        assert not load_cached(copy, path, key, "student 's'")
    assert not load_cached(copy, tmp_path / "absent.safetensors", key, "x")


def test_a_renamed_label_loads_its_weights(good, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("archsim.zoo.train_pool.train_classifier", lambda *a, **k: pytest.fail("trained again"))
    renamed = {**good["cfg"], "models": [{**m, "label": m["label"] + "_renamed"} for m in good["cfg"]["models"]]}
    before = weights_files(good["cache"])
    rc, out, err = run_cli(capsys, "sat", "--config", write_config(tmp_path / "c.yaml", renamed),
                           "--out", tmp_path / "o", "--no-progress")
    assert rc == 0, err
    assert weights_files(good["cache"]) == before
    assert all(len(p.stem) == 16 for p in before)  # named by content alone


def test_outputs_are_all_or_nothing(tmp_path):
    write_rows(tmp_path / "a.csv", ["x"], [[1]])
    write_rows(tmp_path / "b.csv", ["x"], [[1]])
    with pytest.raises(RuntimeError), all_or_nothing():
        write_rows(tmp_path / "a.csv", ["x"], [[2]])
        assert (tmp_path / "a.csv").read_text() == "x\n1\n"  # not renamed yet
        raise RuntimeError("computing b failed")
    assert [p.name for p in sorted(tmp_path.iterdir())] == ["a.csv", "b.csv"]  # no temporary file left
    assert (tmp_path / "a.csv").read_text() == "x\n1\n"
    with all_or_nothing():
        write_rows(tmp_path / "a.csv", ["x"], [[3]])
        write_rows(tmp_path / "b.csv", ["x"], [[3]])
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text() == "x\n3\n"


def test_a_failure_while_writing_sat_outputs_leaves_the_previous_set(good, prev, capsys, monkeypatch):
    before = snapshot(prev)
    def disk_full(self):
        raise OSError(28, "No space left on device", "pairs.csv")

    monkeypatch.setattr("archsim.sat.result.SATResult.pairs", disk_full)  # after sat.csv and transfer.csv
    rc, _, err = run_cli(capsys, "sat", "--config", good["config"], "--out", prev, "--no-progress")
    assert rc == 2 and err[-1] == "archsim sat: error: pairs.csv: No space left on device"
    assert {k: v for k, v in snapshot(prev).items() if k.name in OUTPUTS} == \
        {k: v for k, v in before.items() if k.name in OUTPUTS}
    assert not list(prev.glob("*.tmp"))


def test_store_reset_then_a_rerun_starts_afresh(good, prev, capsys):
    empty_database(prev.parent, good)
    rc, out, _ = run_cli(capsys, "store", "reset", prev)
    assert rc == 0 and "removed" in out and not (prev / "tensors").exists()
    rc, out, err = run_cli(capsys, "sat", "--config", good["config"], "--out", prev, "--no-progress")
    assert rc == 0 and "0 reused from the store" in out, err
    assert (prev / "sat.csv").read_bytes() == (good["run"] / "sat.csv").read_bytes()


def test_a_deleted_adversarial_set_is_recomputed_on_a_plain_rerun(good, prev, capsys):
    victim = sorted((prev / "tensors" / "adv").glob("*.safetensors"))[0]
    victim.unlink()
    rc, out, err = run_cli(capsys, "sat", "--config", good["config"], "--out", prev, "--no-progress")
    assert rc == 0
    assert [line for line in err if "adversarial set" in line] == [
        f"warning: adversarial set {victim}: file is missing or not its recorded size; recomputing it"]
    assert "ran 1 attack and 0 evaluation units" in out and "1 corrupt adversarial set(s) recomputed" in out
    assert len(list((prev / "tensors" / "adv").glob("*.safetensors"))) == 2
    assert (prev / "sat.csv").read_bytes() == (good["run"] / "sat.csv").read_bytes()


def test_store_gc_removes_stale_temporary_files_outside_tensors(prev, tmp_path, capsys):
    cache = tmp_path / "cache" / "weights"
    cache.mkdir(parents=True)
    (prev / "analysis").mkdir()
    stale = [prev / "sat.csv.0123456789ab.tmp", prev / "analysis" / "report.html.abcdef012345.tmp",
             cache / "0011223344556677.safetensors.fedcba987654.tmp"]
    kept = [prev / "sat.csv.aaaaaaaaaaaa.tmp",  # being written now
            prev / "notes.tmp", cache / "mine.tmp"]  # not archsim's temporary names
    old = os.stat(prev / "sat.csv").st_mtime - 3600
    for path in stale + kept:
        path.write_text("partial")
    for path in stale + kept[1:]:
        os.utime(path, (old, old))
    rc, out, err = run_cli(capsys, "store", "gc", prev, "--cache-dir", tmp_path / "cache")
    assert rc == 0, err
    assert not any(p.exists() for p in stale) and all(p.exists() for p in kept)
    assert "removed sat.csv.0123456789ab.tmp" in out and f"removed {stale[2]}" in out


def test_store_info_verify_runs_the_integrity_check(prev, capsys):
    conn = sqlite3.connect(prev / "store.sqlite")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    # an index out of step with its table: quick_check passes, integrity_check does not
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute("UPDATE sqlite_schema SET sql = replace(sql, '(status)', '(worker)') WHERE name = 'unit_status'")
    conn.commit()
    conn.close()
    rc, out, err = run_cli(capsys, "store", "info", "--verify", prev)
    assert rc == 1, err
    assert "database integrity_check: 8 problem(s)" in out and "checksums: 0 corrupt" in out
    assert f"{prev / 'store.sqlite'}: row 1 missing from index unit_status" in out


def failing(exc):
    def command(args):
        warnings.warn("first\nsecond", stacklevel=1)
        if exc is not None:
            raise exc
        return 0
    return command


def sqlite_error(kind, message: str, code: int, path=None):
    """A SQLite error as the sqlite3 module raises it (its code and name), from the store's connection at `path`."""
    error = kind(message)
    error.sqlite_errorcode, error.sqlite_errorname = code, {11: "SQLITE_CORRUPT", 13: "SQLITE_FULL"}[code]
    if path is not None:
        error.store_path = path
    return error


@pytest.mark.parametrize("exc, line", [
    (None, None),
    (sqlite_error(sqlite3.DatabaseError, "database disk image is malformed", 11),
     "archsim store: error: a run store database is damaged (database disk image is malformed); restore it from a "
     "backup, or `archsim store reset DIR` to start afresh"),
    (sqlite_error(sqlite3.OperationalError, "database or disk is full", 13, "/x/store.sqlite"),
     "archsim store: error: run store database /x/store.sqlite: the disk is full (database or disk is full); free "
     "space on it and run the command again (what was finished is kept)"),
    (PermissionError(13, "Permission denied", "/x/sat.csv"), "archsim store: error: /x/sat.csv: Permission denied"),
    (ArchsimError("two\nlines"), "archsim store: error: two; lines")])
def test_main_prints_warnings_and_errors_as_one_line_each(exc, line, capsys, monkeypatch):
    import archsim.cli as cli

    args = cli.build_parser().parse_args(["store", "info", "x"])
    args.func = failing(exc)
    monkeypatch.setattr(cli, "build_parser", lambda: type("P", (), {"parse_args": lambda self, argv: args})())
    assert cli.main([]) == (0 if exc is None else 2)
    assert capsys.readouterr().err.splitlines() == ["warning: first; second"] + ([line] if line else [])


def test_an_analysis_writes_its_tables_and_figures_all_or_nothing(tmp_path, monkeypatch):
    """write_clustering: clusters.csv and four figures; a figure that fails leaves none of the new files."""
    import numpy as np

    from analysis.matrix import plots, write
    from analysis.matrix.load import SimilarityMatrix

    rng = np.random.default_rng(0)
    points = np.concatenate([rng.normal(0, 0.1, (4, 2)), rng.normal(3, 0.1, (4, 2))])
    m = SimilarityMatrix([f"m{i}" for i in range(8)], -np.linalg.norm(points[:, None] - points[None], axis=2))
    (tmp_path / "clusters.csv").write_text("previous\n")

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device", "spectrum.png")

    monkeypatch.setattr(plots, "plot_spectrum", broken)
    with pytest.raises(OSError):
        write.write_clustering(m, tmp_path, k=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clusters.csv"]  # no figure, no temporary file
    assert (tmp_path / "clusters.csv").read_text() == "previous\n"
    monkeypatch.undo()
    cl, written = write.write_clustering(m, tmp_path, k=2)
    assert sorted(p.name for p in written) == ["clusters.csv", "dendrogram.png", "mds.png", "spectrum.png", "tsne.png"]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in written if p.suffix == ".png")
    assert sorted(cl.labels[:4]) == [cl.labels[0]] * 4 and cl.labels[4] != cl.labels[0]
