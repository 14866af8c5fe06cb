"""Every input a fuzzer found (tests/data/fuzz-regressions/<target>/*) and every seed, replayed through its target."""
import os

import pytest

import fuzz_targets

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "fuzz-regressions")


def _cases():
    for name in fuzz_targets.TARGETS:
        for i, seed in enumerate(fuzz_targets.seeds(name)):
            yield pytest.param(name, seed, id="%s-seed%d" % (name, i))
        folder = os.path.join(DATA, name)
        for entry in sorted(os.listdir(folder)) if os.path.isdir(folder) else ():
            with open(os.path.join(folder, entry), "rb") as f:
                yield pytest.param(name, f.read(), id="%s-%s" % (name, entry))


@pytest.mark.parametrize("target,data", list(_cases()))
def test_replay(target, data):
    fuzz_targets.TARGETS[target](data)


def test_every_regression_folder_names_a_target():
    for entry in os.listdir(DATA):
        if os.path.isdir(os.path.join(DATA, entry)):
            assert entry in fuzz_targets.TARGETS, entry
