"""The stand-in's own tests, without the lab: its core, prepare, migrations, bundle
scripts and log receiver on this machine, against real PostgreSQL, Redis and LDAP
servers."""

from lab.standin.tests.support import (  # noqa: F401  (fixtures)
    core_backing,
    database,
    harbor_yml,
    postgres,
    redis_server,
    rsa_key_pem,
    second_harbor,
    slapd,
)
