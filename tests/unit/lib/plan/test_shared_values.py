"""The values prepare draws on every run, shared by the nodes of one Harbor: drawn as
prepare draws them, checked, compared by digest only."""

import pytest

from harbor_deploy.lib.plan import shared_values


def test_generated_values_are_drawn_as_prepare_draws_them_and_differ_each_time():
    data = shared_values.generate()
    values = shared_values.parse(data)
    assert {key: len(value) for key, value in values.items()} == {
        "JOBSERVICE_SECRET": 16,
        "CORE_SECRET": 16,
        "CSRF_KEY": 32,
        "ROBOT_SCANNER_NAME_PREFIX": 8,
    }
    assert all(value.isalnum() and value.isascii() for value in values.values())
    assert shared_values.problems(data) == []
    assert shared_values.parse(shared_values.render(values)) == values
    assert shared_values.generate() != data


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda v: v.pop("CSRF_KEY"), "CSRF_KEY is missing"),
        (lambda v: v.update(CORE_SECRET="short"), "CORE_SECRET must be 16 letters or digits"),
        # docker compose reads "$" and " #" in an env file its own way: only prepare's characters.
        (lambda v: v.update(JOBSERVICE_SECRET="abc$defghijklmno"), "JOBSERVICE_SECRET must be 16 letters or digits"),
    ],
)
def test_values_not_as_prepare_draws_them_are_refused_naming_the_key(edit, problem):
    values = shared_values.parse(shared_values.generate())
    edit(values)
    data = "".join(f"{key}={value}\n" for key, value in values.items()).encode()
    assert any(found.startswith(problem) for found in shared_values.problems(data))


def test_differences_name_the_file_and_key_by_digest_never_the_value():
    values = shared_values.parse(shared_values.generate())
    wanted = shared_values.digests(values)
    assert all(values[key] not in digest for key, digest in wanted.items())
    node = {name: {key: wanted[key] for key in keys} for name, keys in shared_values.ENV_FILES.items()}
    assert shared_values.differences(wanted, node) == []
    node["jobservice/env"]["JOBSERVICE_SECRET"] = shared_values.digest("another")
    del node["core/env"]["CSRF_KEY"]
    assert shared_values.differences(wanted, node) == ["core/env CSRF_KEY", "jobservice/env JOBSERVICE_SECRET"]
    # A file prepare did not write (no registryctl) is not compared.
    assert shared_values.differences(wanted, {"core/env": {key: wanted[key] for key in wanted}}) == []
