"""Harbor, the private container registry, and a fleet of Docker hosts wired to it,
deployed with pyinfra.

    from harbor_deploy import harbor_server, harbor_clients, harbor_configure

The packaged deploys live in ``harbor_deploy.deploys``; they are loaded on first use
here, so the library below them (``harbor_deploy.lib``) imports without pyinfra's
deploy machinery.
"""

PACKAGED_DEPLOYS = (
    "docker_engine",
    "harbor_backing",
    "harbor_backup",
    "harbor_client_status",
    "harbor_clients",
    "harbor_configure",
    "harbor_export",
    "harbor_grow",
    "harbor_logs",
    "harbor_restore",
    "harbor_robot_refresh",
    "harbor_rollback",
    "harbor_server",
    "harbor_status",
    "harbor_uninstall",
)


def __getattr__(name):
    if name in PACKAGED_DEPLOYS:
        from harbor_deploy import deploys

        return getattr(deploys, name)
    raise AttributeError(f"module 'harbor_deploy' has no attribute {name!r}")
