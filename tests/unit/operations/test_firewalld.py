"""firewalld.port / .service / .service_ports / .service_removed: commands yielded per
FirewalldState, noop when converged.

The cases are pyinfra-testing specs under tests/fixtures/operations/firewalld.*/.
"""

from pyinfra_testing.operations import make_operation_tests

from tests.conftest import FIXTURES

SPECS = FIXTURES / "operations"

TestFirewalldPort = make_operation_tests("harbor_deploy.operations", "firewalld.port", SPECS / "firewalld.port")
TestFirewalldService = make_operation_tests(
    "harbor_deploy.operations", "firewalld.service", SPECS / "firewalld.service"
)
TestFirewalldServicePorts = make_operation_tests(
    "harbor_deploy.operations", "firewalld.service_ports", SPECS / "firewalld.service_ports"
)
TestFirewalldServiceRemoved = make_operation_tests(
    "harbor_deploy.operations", "firewalld.service_removed", SPECS / "firewalld.service_removed"
)
