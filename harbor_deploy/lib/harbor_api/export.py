"""A running Harbor's configuration as the YAML of configure's keys: what
``deploys/export.py`` writes to ``harbor_export_file`` and configure reads back
through ``harbor_config_file``. Secrets never are in it: each is named by where
configure reads it (a secrets file, or the env var an entry names)."""

import yaml

from harbor_deploy.lib.harbor_api import resources

HEADER = """\
# Harbor's configuration as harbor-deploy configure keys, read from {url}
# by deploys/export.py. Configure it back with harbor_config_file: this file
# (inventory keys win). No secret is here: configure reads each from the
# secrets dir of the instance when it has to send one: users/<username>,
# robots/<project>+<name>, registries/<name>, webhooks/<project>+<name>,
# auth/ldap_search_password, auth/oidc_client_secret (or the env var an entry names).
"""


def export_text(client):
    """The export file's text: the header, then every managed key Harbor has."""
    body = yaml.safe_dump(resources.export(client), sort_keys=False, default_flow_style=False, allow_unicode=True)
    return HEADER.format(url=client.base_url) + body
