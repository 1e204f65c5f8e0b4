"""Registry endpoints (for proxy cache projects and replication).

Harbor never returns an endpoint's access secret (src/server/v2.0/handler/registry.go
shows ``*****``; src/pkg/reg/manager.go keeps it encrypted): the controller notes a
salted fingerprint of the one it last sent (``SecretStore.sent``), so a rotated
secret is sent on the next run (one update) and an unchanged one never."""

import re

from harbor_deploy.lib.config.secrets import registry_secret_name
from harbor_deploy.lib.harbor_api.client import ApiError
from harbor_deploy.lib.harbor_api.resources.common import (
    Change,
    FieldChange,
    ResourceError,
    entry_state,
    field_changes,
    find_registry,
    presence_change,
)

# Registry types of Harbor v2.13's adapters.
REGISTRY_TYPES = (
    "harbor",
    "docker-hub",
    "docker-registry",
    "aws-ecr",
    "azure-acr",
    "ali-acr",
    "google-gcr",
    "huawei-SWR",
    "gitlab",
    "quay",
    "jfrog-artifactory",
    "tencent-tcr",
    "github-ghcr",
    "volcengine-cr",
    "dtr",
)

# The types a proxy cache project may use: PERMITTED_REGISTRY_TYPES_FOR_PROXY_CACHE of
# core's env (make/photon/prepare/templates/core/env.jinja), checked when a project is
# created (src/server/v2.0/handler/project.go: 400 "unsupported registry type").
PROXY_CACHE_TYPES = (
    "docker-hub",
    "harbor",
    "azure-acr",
    "ali-acr",
    "aws-ecr",
    "google-gcr",
    "quay",
    "docker-registry",
    "github-ghcr",
    "jfrog-artifactory",
)

DOCKER_HUB_URL = "https://hub.docker.com"


def registry_spec(raw):
    """A registry endpoint of ``harbor_registries`` (shape checked by ``schema``). Harbor
    checks the endpoint's health (from the Harbor server) whenever one is created or
    changed; a docker-hub endpoint ignores the URL and needs registry-1.docker.io."""
    spec = {"name": raw["name"], "state": entry_state(raw)}
    if spec["state"] == "absent":
        return spec
    kind = raw.get("type")
    if kind is None:
        raise ValueError("type is required")
    url = raw.get("url") or DOCKER_HUB_URL if kind == "docker-hub" else raw.get("url")
    if not isinstance(url, str) or not re.match(r"^https?://[^/\s]+", url):
        raise ValueError("url must be an http(s):// URL")
    return {
        **spec,
        "type": kind,
        "url": url.rstrip("/"),
        "insecure": bool(raw.get("insecure", False)),
        "description": raw.get("description", ""),
        "access_key": raw.get("access_key"),
        "access_secret_env": raw.get("access_secret_env"),
    }


def registry_payload(spec, secret):
    """``Registry`` creating an endpoint; the credential only when an access key is set."""
    payload = {
        "name": spec["name"],
        "type": spec["type"],
        "url": spec["url"],
        "insecure": spec["insecure"],
        "description": spec["description"],
    }
    if spec["access_key"]:
        payload["credential"] = {
            "type": "basic",
            "access_key": spec["access_key"],
            "access_secret": secret.reveal() if secret else "",
        }
    return payload


def registry_diff(spec, current):
    """``FieldChange``s of the endpoint (an access key only when the data names one)."""
    # Harbor leaves false and "" out of its answers.
    defaults = {"url": "", "insecure": False, "description": ""}
    have = {key: current.get(key, default) for key, default in defaults.items()}
    have["access_key"] = (current.get("credential") or {}).get("access_key") or None
    want = {key: spec[key] for key in defaults}
    if spec["access_key"]:
        want["access_key"] = spec["access_key"]
    return list(field_changes(have, want))


def plan_registries(client, specs, store):
    changes = []
    for spec in specs:
        name = spec["name"]
        current = find_registry(client, name)
        secret = _registry_secret(store, spec) if spec["state"] == "present" else None
        presence = presence_change(
            client,
            "registry",
            name,
            spec,
            current,
            lambda c: f"/registries/{c['id']}",
            lambda s=spec, x=secret: _registry_write(s, store, x, client.post, "/registries", registry_payload(s, x)),
        )
        if presence is not None:
            changes += presence
            continue
        if current.get("type") != spec["type"]:
            raise ResourceError(
                f"registry {name}: its type is {current.get('type')}, not {spec['type']}; "
                "the type is set at creation only"
            )
        fields = registry_diff(spec, current)
        if spec["access_key"] and secret is not None and not store.sent(registry_secret_name(name), secret):
            # Harbor never returns the secret: one it was not sent (rotated) goes again.
            fields.append(FieldChange("access_secret", secret=True))
        if fields:
            changes.append(
                Change(
                    "update",
                    "registry",
                    name,
                    tuple(fields),
                    lambda c=current, s=spec, x=secret: _registry_write(
                        s, store, x, client.put, f"/registries/{c['id']}", _registry_update(s, x)
                    ),
                )
            )
    return changes


def _registry_write(spec, store, secret, send, path, payload):
    """Create or update an endpoint, then note the secret sent with it; Harbor's health
    check of it explained when it fails."""
    try:
        send(path, f"registry {spec['name']}", payload)
    except ApiError as error:
        if error.status == 400 and "unhealthy" in error.message:
            where = (
                "registry-1.docker.io (a docker-hub endpoint ignores its URL), so it needs a Harbor "
                "with internet access"
                if spec["type"] == "docker-hub"
                else spec["url"]
            )
            raise ResourceError(
                f"registry {spec['name']}: Harbor checks an endpoint whenever it is created "
                f"or changed, and could not reach {where}: {error}"
            ) from None
        raise
    if spec["access_key"] and secret is not None:
        store.remember_sent(registry_secret_name(spec["name"]), secret)


def _registry_secret(store, spec):
    return store.read(registry_secret_name(spec["name"]), spec["access_secret_env"])


def _registry_update(spec, secret):
    """``RegistryUpdate`` of the changed fields. Left out, a field keeps its value in
    Harbor; the access secret goes along only when the controller has it, so one set
    by hand in Harbor is never blanked."""
    payload = {"url": spec["url"], "insecure": spec["insecure"], "description": spec["description"]}
    if spec["access_key"]:
        payload.update({"credential_type": "basic", "access_key": spec["access_key"]})
        if secret is not None:
            payload["access_secret"] = secret.reveal()
    return payload


def export_registries(client):
    """``harbor_registries`` without credentials' secrets (Harbor never returns them:
    configure reads each from the secrets file registries/<name> when it sends one)."""
    found = []
    for registry in client.list("/registries", "registries"):
        entry = {"name": registry["name"], "type": registry["type"], "url": registry["url"]}
        if registry.get("insecure"):
            entry["insecure"] = True
        if registry.get("description"):
            entry["description"] = registry["description"]
        if (registry.get("credential") or {}).get("access_key"):
            entry["access_key"] = registry["credential"]["access_key"]
        found.append(entry)
    return found
