"""Webhook policies of a project (src/server/v2.0/handler/webhook.go,
src/pkg/notification) and their delivery when an event happens
(src/controller/event/handler/webhook/artifact/artifact.go builds the payload,
src/pkg/notifier/handler/notification/http_handler.go and slack_handler.go send it,
src/jobservice/job/impl/notification/webhook_job.go posts it)."""

import json
import ssl
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import unquote

from harbor_core.api.projects import requested_project, require_project_admin
from harbor_core.errors import bad_request, not_found
from harbor_core.http import API, Response, Route, listing
from harbor_core.rules import normalised_url

# notification.initSupportedNotifyType.
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
DELIVERY_TIMEOUT = 10.0


def checked_policy(body, project, creator):
    """validateEventTypes and validateTargets, then the policy as Harbor stores it."""
    name = str(body.get("name") or "")
    event_types = list(body.get("event_types") or [])
    if not event_types:
        raise bad_request("empty event type")
    for event_type in event_types:
        if event_type not in EVENT_TYPES:
            raise bad_request(f"unsupported event type {event_type}")
    targets = []
    if not body.get("targets"):
        raise bad_request(f"empty notification target with policy {name}")
    for raw in body["targets"]:
        target = {
            "type": str(raw.get("type") or ""),
            # ParseEndpoint, then scheme://host/path (the query is dropped: SSRF #3755).
            "address": normalised_url(raw.get("address")),
            "auth_header": str(raw.get("auth_header") or ""),
            "skip_cert_verify": bool(raw.get("skip_cert_verify")),
            "payload_format": str(raw.get("payload_format") or ""),
        }
        if target["type"] not in NOTIFY_TYPES:
            raise bad_request(f"unsupported target type {target['type']} with policy {name}")
        if target["payload_format"] and target["type"] == "slack":
            raise bad_request("set payload format is not allowed for slack")
        if target["payload_format"] and target["payload_format"] not in PAYLOAD_FORMATS:
            raise bad_request(f"unsupported payload format type: {target['payload_format']}")
        if not target["payload_format"] and target["type"] == "http":
            target["payload_format"] = "Default"
        targets.append(target)
    return {
        "name": name,
        "description": str(body.get("description") or ""),
        "project_id": project["project_id"],
        "enabled": bool(body.get("enabled")),
        "targets": targets,
        "event_types": event_types,
        "creator": creator,
    }


def project_policy(app, project, policy_id):
    """requirePolicyInProject (404 for another project's)."""
    policy = app.store.webhook_policy(policy_id)
    if not policy:
        raise not_found(f"notification policy {policy_id} not found")
    if policy["project_id"] != project["project_id"]:
        raise not_found(f"project id:{project['project_id']}, webhook policy id: {policy_id} not found")
    return policy


def list_policies(app, request):
    project = requested_project(app, request)
    require_project_admin(request.principal, project)
    policies = app.store.webhook_policies(project["project_id"])
    # WebhookPolicy.ToSwagger: the auth header is returned as stored.
    return listing(policies, request.query)


def get_policy(app, request):
    project = requested_project(app, request)
    require_project_admin(request.principal, project)
    return Response(200, project_policy(app, project, int(request.params[1])))


def create_policy(app, request):
    project = requested_project(app, request)
    body = request.body()
    require_project_admin(request.principal, project)
    policy = checked_policy(body, project, request.principal.name)
    policy_id = app.store.save_webhook_policy(policy)
    location = f"{API}/projects/{unquote(request.params[0])}/webhook/policies/{policy_id}"
    return Response(201, headers={"Location": location})


def update_policy(app, request):
    """The body replaces the policy (UpdatePolicy)."""
    project = requested_project(app, request)
    body = request.body()
    require_project_admin(request.principal, project)
    stored = project_policy(app, project, int(request.params[1]))
    policy = checked_policy(body, project, stored["creator"])
    app.store.save_webhook_policy(policy, stored["id"])
    return Response(200)


def delete_policy(app, request):
    project = requested_project(app, request)
    require_project_admin(request.principal, project)
    app.store.delete_webhook_policy(project_policy(app, project, int(request.params[1]))["id"])
    return Response(200)


# --- delivery ---------------------------------------------------------------------


def artifact_payload(app, event_type, project, repository, digest, tag, operator):
    """artifact.go constructArtifactPayload, the Default format: the repository by its
    full name, the resource by its tag (or digest) with the registry's address."""
    reference = f":{tag}" if tag else f"@{digest}"
    return {
        "type": event_type,
        "occur_at": int(time.time()),
        "operator": operator,
        "event_data": {
            "resources": [
                {
                    "digest": digest,
                    "tag": tag or digest,
                    "resource_url": f"{app.settings.registry_url}/{repository}{reference}",
                }
            ],
            "repository": {
                "date_created": int(time.time()),
                "name": repository.split("/", 1)[1],
                "namespace": project["name"],
                "repo_full_name": repository,
                "repo_type": "public" if project["metadata"].get("public") == "true" else "private",
            },
        },
    }


def slack_message(payload):
    """slack_handler.go: the event as a text message (its template, in short)."""
    resources = payload["event_data"]["resources"]
    lines = ["Harbor webhook events", f"event_type: {payload['type']}", f"operator: {payload['operator']}"]
    lines += [f"resource_url: {resource['resource_url']}" for resource in resources]
    return {"text": "\n".join(lines)}


def deliver(target, payload, log=print):
    """One POST of the event to a target, as the webhook job sends it."""
    if target["type"] == "slack":
        body = json.dumps(slack_message(payload)).encode()
        headers = {"Content-Type": "application/json"}
    else:
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        if target["auth_header"]:
            headers["Authorization"] = target["auth_header"]
    context = ssl.create_default_context()
    if target["skip_cert_verify"]:
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    request = urllib.request.Request(target["address"], data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=DELIVERY_TIMEOUT, context=context) as answer:
            log(f"webhook {payload['type']} to {target['address']}: {answer.status}")
    except (OSError, urllib.error.HTTPError) as error:
        log(f"webhook {payload['type']} to {target['address']} failed: {error}")


def notify(app, project, event_type, payload):
    """util.SendHookWithPolicies: each enabled policy of the project naming the event,
    while the system's notification_enable is on; sent in the background."""
    if not app.configuration("notification_enable"):
        return
    targets = [
        target
        for policy in app.store.webhook_policies(project["project_id"])
        if policy["enabled"] and event_type in policy["event_types"]
        for target in policy["targets"]
    ]
    for target in targets:
        app.in_background(deliver, target, payload, _stderr_log)


def _stderr_log(text):
    sys.stderr.write(text + "\n")


ROUTES = [
    Route("GET", r"/projects/([^/]+)/webhook/policies", list_policies),
    Route("POST", r"/projects/([^/]+)/webhook/policies", create_policy),
    Route("GET", r"/projects/([^/]+)/webhook/policies/(\d+)", get_policy),
    Route("PUT", r"/projects/([^/]+)/webhook/policies/(\d+)", update_policy),
    Route("DELETE", r"/projects/([^/]+)/webhook/policies/(\d+)", delete_policy),
]
