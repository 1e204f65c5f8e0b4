"""harbor_deploy.stages.uninstall: a purge needs its confirmation; what is present is
read from the one ``FileStates`` answer, globs included."""

from harbor_deploy.lib.config.defaults import merged
from harbor_deploy.stages.uninstall import UninstallPlan, purge_problems

CONFIG = merged({"harbor_hostname": "harbor.example.org"})


def test_no_purge_asked_is_no_problem():
    assert purge_problems(CONFIG) == []


def test_a_purge_needs_the_hostname_repeated_exactly():
    for confirmation in (None, "harbor", "HARBOR.example.org"):
        [(key, why)] = purge_problems(
            {**CONFIG, "harbor_uninstall_purge": True, "harbor_uninstall_purge_hostname": confirmation}
        )
        assert key == "harbor_uninstall_purge_hostname"
        assert why.startswith("must repeat harbor_hostname (harbor.example.org)") and "/data" in why
    both = {**CONFIG, "harbor_uninstall_purge": True, "harbor_uninstall_purge_hostname": "harbor.example.org"}
    assert purge_problems(both) == []


def test_a_confirmation_without_the_flag_is_refused():
    assert purge_problems({**CONFIG, "harbor_uninstall_purge_hostname": "harbor.example.org"}) == [
        ("harbor_uninstall_purge_hostname", "set without harbor_uninstall_purge: true (nothing is purged)")
    ]


def test_present_paths_and_globs_of_one_level():
    files = {
        "/usr/local/harbor": {"type": "link"},
        "/usr/local/harbor-v2.13.1": {"type": "directory"},
        "/usr/local/harbor-v2.13.1/harbor.yml": {"type": "file"},
    }
    plan = UninstallPlan(CONFIG, {"files": files}, {}, {}, "/usr/local/harbor", False, "me")
    assert plan.present("/usr/local/harbor", "/usr/local/harbor-v*", "/etc/harbor/tls") == [
        "/usr/local/harbor",
        "/usr/local/harbor-v*",
    ]
    only_files = UninstallPlan(
        CONFIG, {"files": {"/usr/local/harbor-v2.13.1/harbor.yml": {}}}, {}, {}, "/usr/local/harbor", False, "me"
    )
    assert only_files.present("/usr/local/harbor-v*") == []
