"""Webhooks of a project (``webhooks`` of a ``harbor_projects`` entry): Harbor calls an
HTTP endpoint or a Slack incoming webhook when the events named happen in the project.

Known by name within the project; webhooks Harbor has that the list leaves out are
left alone, ``state: absent`` deletes one. An ``Authorization`` header Harbor sends
with each call comes from the secrets dir (``webhooks/<project>+<name>``) or the env
var ``auth_header_env`` names, never from inventory data; Harbor returns it (in clear)
with the policy, so it is compared as it is, and never shown. What this encodes of
Harbor v2.13.1 (goharbor/harbor at that tag):

- src/server/v2.0/handler/webhook.go ``validateTargets``/``validateEventTypes``: at
  least one event type, each one Harbor knows (src/pkg/notification/notification.go);
  notify types ``http`` and ``slack``; a payload format (``Default`` or
  ``CloudEvents``) only for http, where it defaults to ``Default``; the address is
  kept as ``scheme://host/path`` (src/common/utils/utils.go ``ParseEndpoint``: no
  scheme means http, a query or fragment is dropped, a trailing ``/`` trimmed).
- The update replaces the policy (``UpdatePolicy`` of the whole body).
- src/pkg/notifier/handler/notification/http_handler.go: the auth header goes as
  ``Authorization`` with every call; slack_handler.go sends none, so a Slack webhook
  takes no auth header; src/jobservice/job/impl/notification/webhook_job.go verifies
  the endpoint's certificate unless ``skip_cert_verify``.
- Names are unique per project (``UNIQUE(name, project_id)``,
  make/migrations/postgresql/0040_2.1.0); Harbor fires no webhook while the system
  setting ``notification_enable`` is false (src/controller/event/handler/util/util.go).
"""

import logging
from functools import partial
from urllib.parse import urlsplit

from harbor_deploy.lib.harbor_api.resources.common import Change, FieldChange, ResourceError, entry_state, find_project

logger = logging.getLogger(__name__)

EVENT_TYPES = (
    "PUSH_ARTIFACT",
    "PULL_ARTIFACT",
    "DELETE_ARTIFACT",
    "QUOTA_EXCEED",
    "QUOTA_WARNING",
    "SCANNING_FAILED",
    "SCANNING_STOPPED",
    "SCANNING_COMPLETED",
    "REPLICATION",
    "TAG_RETENTION",
)
NOTIFY_TYPES = ("http", "slack")
PAYLOAD_FORMATS = ("Default", "CloudEvents")
AUTH_HEADER = "auth_header"


def webhook_secret_name(project, name):
    """The secrets file of a webhook's auth header: ``webhooks/<project>+<name>``."""
    return f"webhooks/{project}+{name}"


def harbor_address(url):
    """The address as Harbor keeps it (``ParseEndpoint``); a query or fragment, which
    Harbor would drop, is refused."""
    text = url.strip(" ").rstrip("/")
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"url {url!r} must be an http(s):// address")
    if parts.query or parts.fragment:
        raise ValueError(f"url {url!r}: Harbor drops a query or fragment from a webhook's address")
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def webhook_spec(project, raw):
    """One entry of a project's ``webhooks`` (shape checked by ``schema``), normalized."""
    spec = {"project": project, "name": raw["name"], "state": entry_state(raw)}
    if spec["state"] == "absent":
        return spec
    kind = raw.get("type", "http")
    wants_header = bool(raw.get("auth_header") or raw.get("auth_header_env"))
    if kind == "slack" and (wants_header or "payload_format" in raw):
        raise ValueError(
            f"webhook {raw['name']}: a slack webhook takes no auth header and no payload format "
            "(Harbor's Slack notifier sends neither)"
        )
    target = {
        "type": kind,
        "address": harbor_address(raw["url"]),
        "skip_cert_verify": bool(raw.get("skip_cert_verify", False)),
        "payload_format": raw.get("payload_format", "Default") if kind == "http" else "",
    }
    return {
        **spec,
        "description": raw.get("description", ""),
        "enabled": bool(raw.get("enabled", True)),
        "event_types": list(raw["events"]),
        "target": target,
        "auth_header": wants_header,
        "auth_header_env": raw.get("auth_header_env"),
    }


def webhooks_of(raw_project):
    """The ``webhooks`` of a project entry as specs (None: not managed)."""
    if raw_project.get("webhooks") is None:
        return None
    return [webhook_spec(raw_project["name"], raw) for raw in raw_project["webhooks"]]


def policies_path(project_id):
    return f"/projects/{project_id}/webhook/policies"


def webhook_payload(spec, header):
    """``WebhookPolicy`` of one webhook with its one target; ``header``: the auth
    header (a ``Secret``) or None."""
    target = {key: value for key, value in spec["target"].items() if value != ""}
    if header is not None:
        target[AUTH_HEADER] = header.reveal()
    return {
        "name": spec["name"],
        "description": spec["description"],
        "enabled": spec["enabled"],
        "event_types": spec["event_types"],
        "targets": [target],
    }


def webhook_diff(spec, current, header):
    """``FieldChange``s of one webhook; the auth header shown as changed, never its value."""
    targets = current.get("targets") or [{}]
    target = targets[0] if len(targets) == 1 else {}
    have = {
        "description": current.get("description", ""),
        "enabled": current.get("enabled", False),
        "events": sorted(current.get("event_types") or []),
        **{key: target.get(key, "" if key != "skip_cert_verify" else False) for key in spec["target"]},
    }
    want = {
        "description": spec["description"],
        "enabled": spec["enabled"],
        "events": sorted(spec["event_types"]),
        **spec["target"],
    }
    fields = [FieldChange(key, have[key], value) for key, value in want.items() if have[key] != value]
    wanted_header = header.reveal() if header is not None else ""
    if target.get(AUTH_HEADER, "") != wanted_header or len(targets) != 1:
        fields.append(FieldChange(AUTH_HEADER, secret=True))
    return fields


def auth_header(store, spec):
    """The webhook's auth header (a ``Secret``), None when it has none; one that is
    wanted but missing is refused, naming where it goes."""
    if not spec["auth_header"]:
        return None
    name = webhook_secret_name(spec["project"], spec["name"])
    found = store.read(name, spec["auth_header_env"])
    if found is None:
        raise ResourceError(
            f"webhook {spec['name']} of project {spec['project']}: its auth header is in neither "
            f"{'env ' + spec['auth_header_env'] + ' nor ' if spec['auth_header_env'] else ''}"
            f"the secrets file {name}"
        )
    return found


def plan_webhooks(client, specs, store):
    """Each project's webhooks of its ``webhooks`` list, by name."""
    changes = []
    for spec in specs:
        if spec["state"] == "absent" or spec["webhooks"] is None:
            continue
        project = find_project(client, spec["name"])
        current = {}
        if project:
            for policy in client.list(policies_path(project["project_id"]), f"webhooks of project {spec['name']}"):
                current[policy["name"]] = policy
        for hook in spec["webhooks"]:
            changes += _webhook_changes(client, store, hook, current.get(hook["name"]))
    return changes


def _webhook_changes(client, store, hook, current):
    label = f"{hook['project']}/{hook['name']}"
    resource = f"webhook {hook['name']} of project {hook['project']}"
    if hook["state"] == "absent":
        if current is None:
            return []
        path = f"{policies_path(current['project_id'])}/{current['id']}"
        return [Change("delete", "webhook", label, apply=partial(client.delete, path, resource))]
    header = auth_header(store, hook)
    if current is None:
        return [Change("create", "webhook", label, apply=partial(_create, client, hook, header))]
    fields = webhook_diff(hook, current, header)
    if not fields:
        return []
    path = f"{policies_path(current['project_id'])}/{current['id']}"
    update = partial(client.put, path, resource, webhook_payload(hook, header))
    return [Change("update", "webhook", label, tuple(fields), update)]


def _create(client, hook, header):
    project = find_project(client, hook["project"])
    client.post(
        policies_path(project["project_id"]),
        f"webhook {hook['name']} of project {hook['project']}",
        webhook_payload(hook, header),
    )


def export_webhooks(client, project_id, project):
    """A project's ``webhooks`` (None without any); an auth header Harbor has is named
    by where configure reads it, never written. A webhook of several targets, which an
    entry can't say, is left out with a warning (configure leaves it alone)."""
    found = []
    for policy in client.list(policies_path(project_id), f"webhooks of project {project}"):
        if len(policy.get("targets") or []) != 1:
            logger.warning("webhook %s of project %s has several targets: not exported", policy["name"], project)
            continue
        target = policy["targets"][0]
        entry = {"name": policy["name"], "url": target.get("address", ""), "events": policy.get("event_types") or []}
        if target.get("type", "http") != "http":
            entry["type"] = target["type"]
        if target.get("payload_format") not in (None, "", "Default"):
            entry["payload_format"] = target["payload_format"]
        if target.get(AUTH_HEADER):
            entry["auth_header"] = True
        if target.get("skip_cert_verify"):
            entry["skip_cert_verify"] = True
        if policy.get("description"):
            entry["description"] = policy["description"]
        if not policy.get("enabled"):
            entry["enabled"] = False
        found.append(entry)
    return found or None
