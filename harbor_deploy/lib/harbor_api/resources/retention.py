"""Tag retention policies, one per project (``retention`` of a ``harbor_projects`` entry),
and the selectors a rule names its repositories and tags with (immutable tag rules
take the same: ``immutable``).

A rule may be disabled on its own (``disabled``: the retention launcher skips it,
src/pkg/retention/launcher.go) and may select all repositories or tags but those
a pattern matches (``repoExcludes``/``excludes``, src/lib/selector/selectors/doublestar)."""

import json
import logging

from harbor_deploy.lib.harbor_api.client import NotFound
from harbor_deploy.lib.harbor_api.resources.common import NAMED_SCHEDULES, Change, cron_schedule, find_project

logger = logging.getLogger(__name__)

RETENTION_TEMPLATES = ("latestPushedK", "latestPulledN", "nDaysSinceLastPush", "nDaysSinceLastPull", "always")
# Harbor's retention handler refuses more rules (400) and two identical ones (409)
# on create and update (src/server/v2.0/handler/retention.go).
MAX_RETENTION_RULES = 15


# How a rule names what it applies to (src/lib/selector/selectors/doublestar): the
# repositories or tags a doublestar pattern matches, or all but those; Harbor's
# decorations for each.
SELECTOR_KEYS = {
    "repositories": ("repositories", "repoMatches"),
    "exclude_repositories": ("repositories", "repoExcludes"),
    "tags": ("tags", "matches"),
    "exclude_tags": ("tags", "excludes"),
}
DECORATIONS = {decoration: key for key, (_, decoration) in SELECTOR_KEYS.items()}


def selectors(rule, tag_extras=None):
    """``(tag_selectors, scope_selectors)`` of a rule entry: ``repositories`` or
    ``exclude_repositories``, ``tags`` or ``exclude_tags`` (each ``**`` when left out:
    everything). ``tag_extras``: the tag selector's ``extras`` text (retention's
    ``untagged``), None for none."""
    chosen = {}
    for key, (subject, decoration) in SELECTOR_KEYS.items():
        if key in rule:
            if subject in chosen:
                raise ValueError(f"a rule takes {subject} or exclude_{subject}, not both")
            chosen[subject] = (decoration, rule[key])
    repository = chosen.get("repositories", ("repoMatches", "**"))
    tag = chosen.get("tags", ("matches", "**"))
    tag_selector = {"kind": "doublestar", "decoration": tag[0], "pattern": tag[1]}
    if tag_extras is not None:
        tag_selector["extras"] = tag_extras
    scope = {"repository": [{"kind": "doublestar", "decoration": repository[0], "pattern": repository[1]}]}
    return [tag_selector], scope


def selector_entry(rule):
    """The ``repositories``/``exclude_repositories`` and ``tags``/``exclude_tags`` of
    Harbor's rule (``**`` matches left out), or None when its selectors are not one
    doublestar pattern each."""
    tags = rule.get("tag_selectors") or []
    scopes = (rule.get("scope_selectors") or {}).get("repository") or []
    if len(tags) != 1 or len(scopes) != 1:
        return None
    entry = {}
    for selector in (scopes[0], tags[0]):
        key = DECORATIONS.get(selector.get("decoration"))
        if selector.get("kind") != "doublestar" or key is None:
            return None
        if not (key in ("repositories", "tags") and selector.get("pattern") == "**"):
            entry[key] = selector.get("pattern")
    return entry


def retention_spec(raw):
    """``{schedule?, rules: [{template, count?, repositories? | exclude_repositories?,
    tags? | exclude_tags?, untagged?, disabled?}]}`` (shape checked by ``schema``) ->
    rules, cron."""
    rules = []
    for rule in raw["rules"]:
        template = rule["template"]
        if template != "always" and "count" not in rule:
            raise ValueError(f"retention rule {template} needs a count")
        params = {} if template == "always" else {template: rule["count"]}
        tag_selectors, scope_selectors = selectors(rule, json.dumps({"untagged": bool(rule.get("untagged", True))}))
        rules.append(
            {
                "disabled": bool(rule.get("disabled", False)),
                "action": "retain",
                "template": template,
                "params": params,
                "tag_selectors": tag_selectors,
                "scope_selectors": scope_selectors,
            }
        )
    if len(rules) > MAX_RETENTION_RULES:
        raise ValueError(f"retention has {len(rules)} rules: Harbor takes at most {MAX_RETENTION_RULES}")
    seen = {}
    for index, rule in enumerate(rules):
        first = seen.setdefault(json.dumps(rule, sort_keys=True), index)
        if first != index:
            raise ValueError(f"retention rule {index} is rule {first} again: Harbor refuses identical rules")
    cron = cron_schedule(raw["schedule"])[1] if raw.get("schedule") else ""
    return {"rules": rules, "cron": cron}


def retention_payload(spec, project_id, policy_id=None):
    """``RetentionPolicy`` of one project."""
    payload = {
        "algorithm": "or",
        "rules": spec["rules"],
        "trigger": {"kind": "Schedule", "settings": {"cron": spec["cron"]}},
        "scope": {"level": "project", "ref": project_id},
    }
    if policy_id is not None:
        payload["id"] = policy_id
    return payload


RULE_DEFAULTS = {
    "disabled": False,
    "action": "",
    "template": "",
    "params": {},
    "tag_selectors": [],
    "scope_selectors": {},
}


def retention_diff(spec, current):
    fields = []
    # Harbor leaves false, "" and empty maps out of its answers.
    rules = [
        {key: rule.get(key, default) for key, default in RULE_DEFAULTS.items()} for rule in current.get("rules") or []
    ]
    if rules != spec["rules"]:
        fields.append("rules")
    if ((current.get("trigger") or {}).get("settings") or {}).get("cron", "") != spec["cron"]:
        fields.append("schedule")
    return fields


def plan_retention(client, specs, _store=None):
    changes = []
    for spec in specs:
        if spec["state"] == "absent" or spec["retention"] is None:
            continue
        name, wanted = spec["name"], spec["retention"]
        project = find_project(client, name)
        policy_id = ((project or {}).get("metadata") or {}).get("retention_id")
        if not policy_id:
            changes.append(Change("create", "retention", name, apply=lambda s=spec: _create_retention(client, s)))
            continue
        current = client.get(f"/retentions/{policy_id}", f"retention policy of project {name}")
        fields = retention_diff(wanted, current)
        if fields:
            changes.append(
                Change(
                    "update",
                    "retention",
                    name,
                    tuple(fields),
                    lambda p=project, i=policy_id, w=wanted: client.put(
                        f"/retentions/{i}",
                        f"retention policy of project {p['name']}",
                        retention_payload(w, p["project_id"], int(i)),
                    ),
                )
            )
    return changes


def _create_retention(client, spec):
    project = find_project(client, spec["name"])
    if project is None:
        raise NotFound("POST", f"retention policy of project {spec['name']}", 404, "no such project")
    client.post(
        "/retentions",
        f"retention policy of project {spec['name']}",
        retention_payload(spec["retention"], project["project_id"]),
    )


# A rule's fields at the values retention_spec gives them when left out.
EXPORT_RULE_DEFAULTS = {("untagged", True), ("disabled", False)}


def export_retention(policy, project):
    """The ``retention`` of a project's entry for Harbor's policy; None (with a warning)
    when a rule is one an entry can't say (another selector kind or action)."""
    rules = []
    for found_rule in (policy or {}).get("rules") or []:
        rule = {key: found_rule.get(key, default) for key, default in RULE_DEFAULTS.items()}
        template = rule["template"]
        entry = {"template": template, "disabled": rule["disabled"], **(selector_entry(rule) or {})}
        if template != "always":
            entry["count"] = (rule["params"] or {}).get(template)
        tags = rule["tag_selectors"]
        if len(tags) == 1:
            entry["untagged"] = bool(json.loads(tags[0].get("extras") or "{}").get("untagged"))
        if template not in RETENTION_TEMPLATES or _rules_of(entry) != [rule]:
            logger.warning("retention policy of project %s has a rule a project entry can't say: not exported", project)
            return None
        rules.append({key: value for key, value in entry.items() if (key, value) not in EXPORT_RULE_DEFAULTS})
    cron = (((policy or {}).get("trigger") or {}).get("settings") or {}).get("cron") or ""
    found = {"rules": rules}
    if cron:
        found["schedule"] = next((name for name, named in NAMED_SCHEDULES.items() if named == cron), cron)
    return found


def _rules_of(entry):
    try:
        return retention_spec({"rules": [entry]})["rules"]
    except (KeyError, ValueError):
        return None
