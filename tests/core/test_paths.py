"""core/paths: paths built from outside input stay under their root, symlinks resolved."""
import os

import pytest

from srsish.core import paths


@pytest.fixture
def tree(tmp_path):
    """root/ with a folder, a file, a symlink out (to outside/) and a symlink that stays inside."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "live").mkdir(parents=True)
    outside.mkdir()
    (root / "live" / "s.m3u8").write_text("#EXTM3U\n")
    (outside / "secret").write_text("no")
    os.symlink(outside, root / "out")
    os.symlink(root / "live", root / "alias")
    return root


def test_the_root_itself_and_paths_inside_are_accepted(tree):
    real = os.path.realpath(tree)
    assert paths.resolve_under(str(tree), str(tree)) == real
    assert paths.join_under(str(tree), "") == real
    assert paths.join_under(str(tree), "/live//s.m3u8") == os.path.join(real, "live", "s.m3u8")
    assert paths.join_under(str(tree), "live/new/file.ts") == os.path.join(real, "live", "new", "file.ts")
    assert paths.join_under(str(tree), "alias/s.m3u8") == os.path.join(real, "live", "s.m3u8")


def test_a_symlink_out_of_the_root_is_refused(tree):
    with pytest.raises(paths.OutsideRoot):
        paths.join_under(str(tree), "out/secret")
    with pytest.raises(paths.OutsideRoot):
        paths.resolve_under(str(tree), str(tree / "out"))


def test_dot_dot_is_refused_even_when_it_lands_inside(tree):
    with pytest.raises(paths.OutsideRoot):
        paths.join_under(str(tree), "../outside/secret")
    with pytest.raises(paths.OutsideRoot):
        paths.join_under(str(tree), "live/../live/s.m3u8")
    with pytest.raises(paths.OutsideRoot):
        paths.resolve_under(str(tree), str(tree) + "/live/../../outside")


def test_a_path_that_climbs_out_as_written_is_refused_even_if_symlinks_bring_it_back(tree):
    os.symlink(tree / "live", tree.parent / "back")
    with pytest.raises(paths.OutsideRoot):
        paths.resolve_under(str(tree), str(tree) + "/../back/s.m3u8")


def test_nul_is_refused(tree):
    with pytest.raises(paths.OutsideRoot):
        paths.join_under(str(tree), "live/s.m3u8\x00.html")
    with pytest.raises(paths.OutsideRoot):
        paths.resolve_under(str(tree), str(tree) + "/\x00")


def test_a_sibling_whose_name_starts_like_the_root_is_outside(tmp_path):
    (tmp_path / "root").mkdir()
    (tmp_path / "rootless").mkdir()
    with pytest.raises(paths.OutsideRoot):
        paths.resolve_under(str(tmp_path / "root"), str(tmp_path / "rootless"))


def test_make_dirs_under_creates_each_level(tmp_path):
    root = tmp_path / "new" / "root"
    paths.make_dirs_under(str(root), str(root / "a" / "b"))
    assert (root / "a" / "b").is_dir()
    paths.make_dirs_under(str(root), str(root))                  # the root alone: nothing to add


def test_make_dirs_under_stops_at_a_symlink_out(tree):
    with pytest.raises(paths.OutsideRoot):
        paths.make_dirs_under(str(tree), str(tree / "out" / "deeper"))
    assert not (tree.parent / "outside" / "deeper").exists()
    with pytest.raises(paths.OutsideRoot):
        paths.make_dirs_under(str(tree), str(tree.parent / "elsewhere"))
    assert not (tree.parent / "elsewhere").exists()
