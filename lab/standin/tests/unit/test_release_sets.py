"""lab.standin.build.prune_release_sets: a rebuild keeps what other labs may serve and
never touches a build that is still running."""

import os
import time

from lab.standin.build import KEPT_RELEASE_SETS, prune_release_sets


def test_the_newest_sets_a_running_build_and_the_new_set_are_kept(tmp_path):
    old = [tmp_path / f"recipe{n}" for n in range(KEPT_RELEASE_SETS + 2)]
    for age, path in enumerate(reversed(old)):
        path.mkdir()
        stamp = time.time() - 3600 * (age + 1)
        os.utime(path, (stamp, stamp))
    new = tmp_path / "recipe-new"
    running = tmp_path / f"other.partial-{os.getpid()}"
    gone = tmp_path / "other.partial-999999999"
    for path in (new, running, gone):
        path.mkdir()
    prune_release_sets(tmp_path, keep=new)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [new.name, running.name, *(p.name for p in old[-KEPT_RELEASE_SETS:])]
    )
