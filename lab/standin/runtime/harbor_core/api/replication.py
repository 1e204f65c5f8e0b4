"""Replication policies and their executions (src/server/v2.0/handler/replication.go,
src/controller/replication), and the copy itself, done for real between this Harbor's
registry and another registry endpoint through the registry API (what Harbor's
jobservice does: src/controller/replication/flow, src/pkg/reg/adapter/harbor,
src/controller/replication/transfer/image). In the stand-in, core runs an execution
in a thread of its own; scheduled triggers are stored, never fired."""

import base64
import json
import re
import ssl
import sys
import urllib.error
import urllib.request

from harbor_core import jobs
from harbor_core.api.artifacts import stored_artifacts
from harbor_core.api.registries import registry_view
from harbor_core.auth import TOKEN_SERVICE, Principal, require_admin
from harbor_core.distribution import Registry, RegistryError, copy_manifest
from harbor_core.errors import ApiError, bad_request, not_found, unauthorized
from harbor_core.http import API, Response, Route, filtered, first, listing, query_keywords
from harbor_core.rules import cron_problem
from harbor_core.selectors import match, selected
from harbor_core.store import REPLICATION_VENDOR

FILTER_TYPES = ("resource", "name", "tag", "label")
RESOURCE_TYPES = ("artifact", "image")
TRIGGER_TYPES = ("manual", "event_based", "scheduled")
# lib.RepositoryNameRe (distribution's reference.NameRegexp, path components).
COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*"
REPOSITORY_NAME = re.compile(rf"^{COMPONENT}(?:/{COMPONENT})*$")
# Executions and tasks: Harbor's statuses as the API shows them (convertExecution).
SHOWN_STATUS = {"Running": "InProgress", "Success": "Succeed", "Error": "Failed", "Stopped": "Stopped"}
SHOWN_TRIGGER = {"MANUAL": "manual", "SCHEDULE": "scheduled", "EVENT": "event_based"}
# registry.go getLocalRegistry: this Harbor as a replication endpoint.
LOCAL = {
    "id": 0,
    "name": "Local",
    "type": "harbor",
    "url": "http://core:8080",
    "insecure": True,
    "credential": {"type": "secret", "access_key": "", "access_secret": "*****"},
}


def checked_filters(filters):
    """model.Filter.Validate of each filter."""
    for item in filters:
        kind, value, decoration = item.get("type"), item.get("value"), item.get("decoration") or ""
        if kind in ("resource", "name", "tag"):
            if not isinstance(value, str):
                raise bad_request("the type of filter value isn't string")
            if kind == "resource" and value not in RESOURCE_TYPES:
                raise bad_request(f"invalid resource filter: {value}")
            if kind in ("name", "resource") and decoration:
                raise bad_request("only tag and label filter support decoration")
        elif kind == "label":
            if not isinstance(value, list) or not all(isinstance(label, str) for label in value):
                raise bad_request("the type of label filter value isn't string slice")
        else:
            raise bad_request("invalid filter type")
        if decoration not in ("", "matches", "excludes"):
            raise bad_request(f"invalid filter decoration, :{decoration}")
    return [
        {"type": item["type"], "value": item["value"], "decoration": item.get("decoration") or ""} for item in filters
    ]


def checked_trigger(trigger):
    """model.Policy.Validate's trigger rules."""
    if trigger is None:
        return None
    kind, cron = trigger.get("type"), ((trigger.get("trigger_settings") or {}).get("cron") or "")
    if kind not in TRIGGER_TYPES:
        raise bad_request("invalid trigger type")
    if kind == "scheduled":
        if not cron:
            raise bad_request("the cron string cannot be empty when the trigger type is scheduled")
        problem = cron_problem(cron)
        if problem and "1st field" in problem:
            raise bad_request(problem)
        if problem:
            raise bad_request(f"invalid cron string for scheduled trigger: {cron}")
        if cron.split(" ")[1] == "*":
            raise bad_request("* is not allowed for the Minutes field of the cron setting of replication policy")
    checked = {"type": kind}
    if trigger.get("trigger_settings") is not None:
        checked["trigger_settings"] = {"cron": cron}
    return checked


def checked_policy(app, body, creator):
    """The handler's copy of the request (``deletion`` read, ``replicate_deletion``
    not; no replace count means -1; a speed below 0 is 0), then Validate and the
    registries' existence."""
    name = str(body.get("name") or "")
    if not name:
        raise bad_request("empty name")
    source = int((body.get("src_registry") or {}).get("id") or 0)
    destination = int((body.get("dest_registry") or {}).get("id") or 0)
    if (source == 0) == (destination == 0):
        raise bad_request("either src_registry or dest_registry should be empty and the other one shouldn't be empty")
    namespace = str(body.get("dest_namespace") or "")
    policy = {
        "name": name,
        "description": str(body.get("description") or ""),
        "creator": creator,
        "src_registry_id": source,
        "dest_registry_id": destination,
        "dest_namespace": namespace,
        "dest_namespace_replace_count": body.get("dest_namespace_replace_count", -1)
        if body.get("dest_namespace_replace_count") is not None
        else -1,
        "filters": checked_filters(body.get("filters") or []),
        "trigger": checked_trigger(body.get("trigger")),
        "deletion": bool(body.get("deletion")),
        "override": bool(body.get("override")),
        "enabled": bool(body.get("enabled")),
        "speed": max(int(body.get("speed") or 0), 0),
        "copy_by_chunk": bool(body.get("copy_by_chunk")),
    }
    if namespace and not REPOSITORY_NAME.match(namespace):
        raise bad_request(f"invalid destination namespace: {namespace}")
    for registry_id in (source, destination):
        if registry_id and not app.store.registry(registry_id):
            raise not_found(f"registry {registry_id} not found")
    return policy


def endpoint(app, registry_id):
    """The registry of an id, as a policy shows it (0: this Harbor, "Local")."""
    return LOCAL if registry_id == 0 else registry_view(app.store.registry(registry_id))


def policy_view(app, policy):
    """convertReplicationPolicy: both registries in full, both deletion fields, the
    replace count, speed and copy-by-chunk always present."""
    view = {
        key: policy[key]
        for key in ("id", "name", "description", "creator", "dest_namespace", "filters", "override", "enabled")
    }
    view.update(
        {
            "src_registry": endpoint(app, policy["src_registry_id"]),
            "dest_registry": endpoint(app, policy["dest_registry_id"]),
            "deletion": policy["deletion"],
            "replicate_deletion": policy["deletion"],
            "dest_namespace_replace_count": policy["dest_namespace_replace_count"],
            "speed": policy["speed"],
            "copy_by_chunk": policy["copy_by_chunk"],
            "creation_time": policy["creation_time"],
            "update_time": policy["update_time"],
        }
    )
    if policy["trigger"] is not None:
        view["trigger"] = policy["trigger"]
    return view


def stored_policy(app, policy_id):
    policy = app.store.replication_policy(policy_id)
    if not policy:
        raise not_found(f"replication policy {policy_id} not found")
    return policy


def list_policies(app, request):
    require_admin(request.principal)
    keywords = query_keywords(request.query, fuzzy_params=("name",))
    policies = filtered(app.store.replication_policies(), keywords, {"name": "name"})
    return listing([policy_view(app, policy) for policy in policies], request.query)


def get_policy(app, request):
    require_admin(request.principal)
    return Response(200, policy_view(app, stored_policy(app, int(request.params[0]))))


def create_policy(app, request):
    body = request.body()
    require_admin(request.principal)
    policy_id = app.store.save_replication_policy(checked_policy(app, body, request.principal.name))
    return Response(201, headers={"Location": f"{API}/replication/policies/{policy_id}"})


def update_policy(app, request):
    body = request.body()
    require_admin(request.principal)
    stored = stored_policy(app, int(request.params[0]))
    app.store.save_replication_policy(checked_policy(app, body, stored["creator"]), stored["id"])
    return Response(200)


def delete_policy(app, request):
    require_admin(request.principal)
    app.store.delete_replication_policy(stored_policy(app, int(request.params[0]))["id"])
    return Response(200)


# --- executions ----------------------------------------------------------------------


def execution_view(app, execution):
    tasks = app.store.tasks(execution["id"])
    counts = {status: sum(1 for task in tasks if task["status"] == status) for status in SHOWN_STATUS}
    view = {
        "id": execution["id"],
        "policy_id": execution["vendor_id"],
        "status": SHOWN_STATUS[execution["status"]],
        "status_text": execution["status_message"],
        "trigger": SHOWN_TRIGGER[execution["trigger"]],
        "start_time": execution["start_time"],
        "total": len(tasks),
        "failed": counts["Error"],
        "succeed": counts["Success"],
        "in_progress": counts["Running"],
        "stopped": counts["Stopped"],
    }
    if execution["end_time"]:
        view["end_time"] = execution["end_time"]
    return view


def list_executions(app, request):
    require_admin(request.principal)
    policy_id = first(request.query, "policy_id")
    executions = app.store.executions(REPLICATION_VENDOR, int(policy_id) if policy_id else None)
    return listing([execution_view(app, execution) for execution in executions], request.query)


def stored_execution(app, execution_id):
    found = [item for item in app.store.executions(REPLICATION_VENDOR) if item["id"] == execution_id]
    if not found:
        raise not_found(f"replication execution {execution_id} not found")
    return found[0]


def get_execution(app, request):
    require_admin(request.principal)
    return Response(200, execution_view(app, stored_execution(app, int(request.params[0]))))


def list_tasks(app, request):
    require_admin(request.principal)
    execution = stored_execution(app, int(request.params[0]))
    tasks = [
        {
            "id": task["id"],
            "execution_id": task["execution_id"],
            "status": SHOWN_STATUS[task["status"]],
            "operation": "copy",
            "resource_type": "image",
            "src_resource": task["extra_attrs"]["source_resource"],
            "dst_resource": task["extra_attrs"]["destination_resource"],
            "start_time": task["start_time"],
            "end_time": task["end_time"],
        }
        for task in app.store.tasks(execution["id"])
    ]
    return listing(tasks, request.query)


def start_execution(app, request):
    """execution.go Start: a disabled policy is refused (412); the run goes on in the
    background, its execution answered at once."""
    body = request.body()
    require_admin(request.principal)
    policy = stored_policy(app, int(body.get("policy_id") or 0))
    trigger = "SCHEDULE" if first(request.query, "trigger") == "scheduled" else "MANUAL"
    execution_id = start(app, policy, trigger)
    return Response(201, headers={"Location": f"{API}/replication/executions/{execution_id}"})


def start(app, policy, trigger, candidates=None):
    """An execution of ``policy``, its id: a job handed to jobservice, whose queue the
    nodes of one Harbor share (``jobs``), or run in a thread of this core's."""
    if not policy["enabled"]:
        raise ApiError(412, "PRECONDITION", f"the policy {policy['id']} is disabled")
    execution_id = app.store.create_execution(REPLICATION_VENDOR, policy["id"], trigger, "Running")
    if not app.settings.jobs_shared:
        app.in_background(run, app, execution_id, policy, candidates)
        return execution_id
    parameters = {
        "execution_id": execution_id,
        "policy_id": policy["id"],
        "candidates": candidates,
        # The side that is this Harbor ("Local") and its credential (flow/copy.go).
        "local_registry": {**LOCAL, "credential": jobs.local_credential(app)},
    }
    try:
        jobs.submit(app, jobs.REPLICATION, parameters)
    except jobs.SubmitError as error:
        app.store.end_execution(execution_id, "Error", str(error))
    return execution_id


def run_job(app, request):
    """A replication job a jobservice took from the queue, run here with the "Local"
    credential it carries: refused (401) unless that is this core's own
    ``JOBSERVICE_SECRET`` (``jobs``)."""
    secret = jobs.secret_of(request.headers.get("Authorization"))
    if not app.settings.jobservice_secret or secret != app.settings.jobservice_secret:
        raise unauthorized("unauthorized: not this Harbor's jobservice secret")
    body = request.body()
    run(app, int(body["execution_id"]), stored_policy(app, int(body["policy_id"])), body.get("candidates"))
    return Response(200)


def job_hook(app, request):
    """A job's status jobservice reports: an execution whose job failed before it ran
    ends as an error, with jobservice's reason."""
    body = request.body()
    if body.get("status") == "Error":
        app.store.end_execution(int(request.params[0]), "Error", str(body.get("message") or ""))
    return Response(200)


# --- the copy ------------------------------------------------------------------------


def local_registry(app):
    """This Harbor's registry, reached with tokens core signs for its admin (real
    jobservice reaches it through core with the jobservice secret)."""
    host, port = app.settings.components["registry"]
    admin = Principal(user=app.store.user(user_id=1))

    def token_for(scope):
        issued = app.tokens.issue(admin, TOKEN_SERVICE, [scope], lambda name: app.store.project(name, by_name=True))
        return issued["token"]

    return Registry(f"http://{host}:{port}", token_for=token_for)


def remote_registry(registry):
    credential = registry.get("credential") or {}
    basic = (credential["access_key"], credential.get("access_secret", "")) if credential.get("access_key") else None
    return Registry(registry["url"], credential=basic, insecure=registry["insecure"])


def harbor_api(registry, method, path, body=None, ok=(200, 201)):
    """(status, JSON) of a call to another Harbor's API with the endpoint's credential."""
    credential = registry.get("credential") or {}
    headers = {"Accept": "application/json", "Content-Type": "application/json", "X-Is-Resource-Name": "true"}
    if credential.get("access_key"):
        pair = f"{credential['access_key']}:{credential.get('access_secret', '')}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    context = ssl.create_default_context()
    if registry["insecure"]:
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{registry['url']}/api/v2.0{path}", data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30, context=context) as answer:
            status, text = answer.status, answer.read()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read()
    if status not in ok:
        raise RegistryError(f"{method} {registry['url']}/api/v2.0{path}: HTTP {status}: {text[:300]!r}")
    return status, json.loads(text) if text else None


def local_candidates(app):
    """Every artifact of this Harbor, with its project's visibility."""
    found = []
    for project in app.store.projects():
        public = project["metadata"].get("public") == "true"
        for artifact in stored_artifacts(app.settings.storage_root, project["name"]):
            found.append({**artifact, "public": public})
    return found


def remote_candidates(registry):
    """Every artifact of another Harbor, through its API (the harbor adapter)."""
    found = []
    _, projects = harbor_api(registry, "GET", "/projects?page_size=100")
    for project in projects or []:
        public = (project.get("metadata") or {}).get("public") == "true"
        _, repositories = harbor_api(registry, "GET", f"/projects/{project['name']}/repositories?page_size=100")
        for repository in repositories or []:
            within = repository["name"].split("/", 1)[1].replace("/", "%252F")
            _, artifacts = harbor_api(
                registry,
                "GET",
                f"/projects/{project['name']}/repositories/{within}/artifacts?with_tag=true&page_size=100",
            )
            for artifact in artifacts or []:
                tags = sorted(tag["name"] for tag in artifact.get("tags") or [])
                found.append(
                    {"repository": repository["name"], "digest": artifact["digest"], "tags": tags, "public": public}
                )
    return found


def filtered_candidates(candidates, filters):
    """The artifacts the policy's filters keep, each with the tags its tag filter keeps
    (src/pkg/reg/filter): name against the full repository name, tag per tag (an
    untagged artifact against ""), label (the stand-in's artifacts carry none)."""
    kept = []
    for candidate in candidates:
        tags = list(candidate["tags"])
        keep = True
        for item in filters:
            excludes = item["decoration"] == "excludes"
            if item["type"] == "name":
                keep = keep and match(item["value"], candidate["repository"])
            elif item["type"] == "tag":
                if tags:
                    tags = [
                        tag
                        for tag in tags
                        if selected({"pattern": item["value"], "decoration": item["decoration"]}, tag)
                    ]
                    keep = keep and bool(tags)
                else:
                    keep = keep and (match(item["value"], "") != excludes)
            elif item["type"] == "label":
                keep = keep and excludes
        if keep:
            kept.append({**candidate, "tags": tags})
    return kept


def destination_name(repository, namespace, replace_count):
    """flow/stage.go replaceNamespace."""
    if not namespace:
        return repository
    parts = repository.split("/")
    if replace_count < 0:
        prefix = namespace
    elif replace_count > len(parts) - 1:
        raise RegistryError(
            f"the source repository {repository!r} contains only {len(parts) - 1} path components, but the "
            f"destination namespace flattening level is {replace_count}"
        )
    else:
        prefix = "/".join([namespace, *parts[replace_count:-1]])
    return f"{prefix}/{parts[-1]}"


def ensure_project(app, registry, name, public):
    """PrepareForPush: the destination's missing project created, public as the source's."""
    metadata = {"public": "true" if public else "false"}
    if registry is None:
        if not app.store.project(name, by_name=True):
            storage = app.configuration("storage_per_project")
            app.store.create_project(name, 1, metadata, storage, 0)
        return
    if registry["type"] != "harbor":
        return
    status, _ = harbor_api(registry, "GET", f"/projects/{name}", ok=(200, 404))
    if status == 404:
        harbor_api(registry, "POST", "/projects", {"project_name": name, "metadata": metadata})


def run(app, execution_id, policy, candidates=None):
    """One execution: the candidates (all of the source's, or the event's), filtered,
    each copied by a task of its own; the execution ends Success or Error."""
    source_registry = app.store.registry(policy["src_registry_id"]) if policy["src_registry_id"] else None
    destination_registry = app.store.registry(policy["dest_registry_id"]) if policy["dest_registry_id"] else None
    try:
        source = remote_registry(source_registry) if source_registry else local_registry(app)
        destination = remote_registry(destination_registry) if destination_registry else local_registry(app)
        if candidates is None:
            candidates = remote_candidates(source_registry) if source_registry else local_candidates(app)
        kept = filtered_candidates(candidates, policy["filters"])
        failed = 0
        for candidate in kept:
            target = destination_name(
                candidate["repository"], policy["dest_namespace"], policy["dest_namespace_replace_count"]
            )
            ensure_project(app, destination_registry, target.split("/")[0], candidate["public"])
            failed += not copy_task(app, execution_id, policy, source, destination, candidate, target)
        message = "" if kept else "no resources need to be replicated"
        app.store.end_execution(execution_id, "Error" if failed else "Success", message)
    except (RegistryError, OSError, ValueError) as error:
        sys.stderr.write(f"replication execution {execution_id} failed: {error}\n")
        app.store.end_execution(execution_id, "Error", str(error))


def copy_task(app, execution_id, policy, source, destination, candidate, target):
    """transfer/image: the artifact, then each tag kept; a tag the destination has for
    another artifact is left as it is without ``override``. Whether it worked."""
    attrs = {
        "source_resource": f"{candidate['repository']} [{max(len(candidate['tags']), 1)} item(s) in total]",
        "destination_resource": f"{target} [{max(len(candidate['tags']), 1)} item(s) in total]",
        "references": ",".join(candidate["tags"]) or candidate["digest"],
    }
    try:
        body, media_type, digest = copy_manifest(
            source, candidate["repository"], candidate["digest"], destination, target
        )
        log = [f"copied {candidate['repository']}@{digest} to {target}"]
        for tag in candidate["tags"]:
            there = destination.manifest(target, tag)
            if there is not None and there[2] != digest and not policy["override"]:
                log.append(f"{target}:{tag} is another artifact there and override is off: skipped")
                continue
            destination.push_manifest(target, tag, body, media_type)
            log.append(f"tagged {target}:{tag}")
        app.store.add_task(execution_id, "Success", attrs, "\n".join(log))
        return True
    except (RegistryError, OSError, ValueError) as error:
        app.store.add_task(execution_id, "Error", attrs, str(error))
        return False


def on_push(app, repository, digest, tag):
    """The event-based policies a push on this Harbor starts (event handler for
    replication): enabled, source Local, trigger event_based, the artifact kept by
    their filters."""
    project = app.store.project(repository.split("/")[0], by_name=True)
    candidate = {
        "repository": repository,
        "digest": digest,
        "tags": [tag] if tag else [],
        "public": project["metadata"].get("public") == "true",
    }
    for policy in app.store.replication_policies():
        trigger = policy["trigger"] or {}
        event_based = policy["enabled"] and policy["src_registry_id"] == 0 and trigger.get("type") == "event_based"
        if event_based and filtered_candidates([candidate], policy["filters"]):
            start(app, policy, "EVENT", [candidate])


ROUTES = [
    Route("GET", r"/replication/policies", list_policies),
    Route("POST", r"/replication/policies", create_policy),
    Route("GET", r"/replication/policies/(\d+)", get_policy),
    Route("PUT", r"/replication/policies/(\d+)", update_policy),
    Route("DELETE", r"/replication/policies/(\d+)", delete_policy),
    Route("GET", r"/replication/executions", list_executions),
    Route("POST", r"/replication/executions", start_execution),
    Route("GET", r"/replication/executions/(\d+)", get_execution),
    Route("GET", r"/replication/executions/(\d+)/tasks", list_tasks),
]
OUTSIDE_API = [
    Route("POST", jobs.RUN_PATH, run_job, authenticate=False),
    Route("POST", r"/service/notifications/jobs/replication/(\d+)", job_hook, authenticate=False),
]
