"""Inventory data for a lab host in ``harbor_backing`` (deploys/backing.py): the same
keys the Harbor nodes get, pointing at that host's lab address.

    from lab.backing import backing_data
    harbor_backing = [("bare-1", {**ssh_data_of_bare_1, **backing_data(address, "s3")})]

Secrets are referenced, not inlined: ``external_db_password``,
``external_redis_password`` and ``backing_storage_key`` files in
``<harbor_secrets_dir>/<harbor_hostname>/`` (or env HARBOR_EXTERNAL_DB_PASSWORD,
HARBOR_EXTERNAL_REDIS_PASSWORD, HARBOR_SECRET_BACKING_STORAGE_KEY).
"""

STORAGE_ACCOUNT = "harbor:registry"  # Swift tempauth <account>:<user>, also the S3 access key
S3_BUCKET = "harbor-registry"
SWIFT_CONTAINER = "harbor-registry-swift"


def storage_service(address, driver="s3"):
    """harbor_storage_service for Harbor's registry on the backing host at ``address``."""
    if driver == "s3":
        settings = {
            "s3": {
                "regionendpoint": f"http://{address}:8080",
                "region": "us-east-1",
                "bucket": S3_BUCKET,
                "accesskey": STORAGE_ACCOUNT,
                "secretkey": {"secret": "backing_storage_key"},
                "secure": False,
                "v4auth": True,
            }
        }
    else:
        settings = {
            "swift": {
                "authurl": f"http://{address}:8080/auth/v1.0",
                "username": STORAGE_ACCOUNT,
                "password": {"secret": "backing_storage_key"},
                "container": SWIFT_CONTAINER,
            }
        }
    return {**settings, "redirect": {"disable": True}}


def backing_data(address, driver="s3", sources=("172.16.0.0/12",)):
    """The keys a backing host and every Harbor node share (plus the backing host's
    allowed sources); give both the same ``harbor_hostname`` and ``harbor_secrets_dir``."""
    return {
        "harbor_external_database": {
            "host": address,
            "port": 5432,
            "db_name": "registry",
            "username": "harbor",
            "ssl_mode": "verify-full",
        },
        "harbor_external_redis": {"host": f"{address}:6379"},
        "harbor_storage_service": storage_service(address, driver),
        "harbor_backing_allowed_sources": list(sources),
    }
