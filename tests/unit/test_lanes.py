"""tests/lanes.py: every lab test file runs in exactly one lane, on a lab of its own."""

from tests.conftest import ROOT
from tests.lab.bystanders import SUITE_PREFIX
from tests.lanes import BYSTANDERS, LANES, QUICK, UNIT

LAB_TESTS = sorted(
    str(path.relative_to(ROOT))
    for folder in ("tests/lab", "lab/standin/tests/lab")
    for path in (ROOT / folder).glob("test_*.py")
)


def test_every_lab_test_file_runs_in_exactly_one_lane_and_the_bystanders_check_last():
    placed = sorted(path for lane in LANES for path in lane.paths if lane.prefix)
    assert placed == sorted(set(LAB_TESTS) - {BYSTANDERS, "tests/lab/test_03_smoke.py"})
    assert [lane.paths for lane in QUICK if lane.prefix] == [("tests/lab/test_03_smoke.py",)]
    assert all((ROOT / path).exists() for lane in (*LANES, *QUICK) for path in lane.paths)


def test_each_lane_has_a_lab_of_its_own():
    labs = [lane for lane in (*LANES, *QUICK) if lane.prefix]
    assert len({lane.prefix for lane in labs}) == len(labs)
    assert len({lane.mirror_port for lane in labs}) == len(labs)
    assert all(lane.prefix == SUITE_PREFIX or lane.prefix.startswith(f"{SUITE_PREFIX}-") for lane in labs)
    assert UNIT in LANES and UNIT in QUICK and UNIT.prefix is None
