"""Immutable tag rules of a project (``immutable_tags`` of a ``harbor_projects`` entry):
a tag a rule matches can't be pushed over once it exists, nor deleted.

The list given is the project's whole list: rules Harbor has beyond it are deleted.
A rule is known by what it selects (its repositories and tags, as retention rules
name them: ``retention.selectors``); a rule whose selectors changed is updated in
place. What this encodes of Harbor v2.13.1 (goharbor/harbor at that tag):

- src/pkg/immutable/dao/dao.go ``CreateImmutableRule``: a new rule is stored enabled
  whatever the request says (``ir.Disabled = false``): a disabled one is created,
  then disabled (two writes). Rules are unique per project and content
  (``UNIQUE(project_id, tag_filter)``, make/migrations/postgresql/0015_1.10.0): two
  alike are refused here before any call.
- src/controller/immutable/controller.go ``UpdateImmutableRule``: when ``disabled``
  differs from the stored rule, the update only toggles it and drops every other
  change: a rule whose selectors and switch both changed takes two PUTs, the
  selectors first.
- src/server/v2.0/handler/immutable.go: the id in the body must be the path's (400);
  src/pkg/immutable/match/rule/match.go: a rule's first repository and first tag
  selector decide, tags matched with ``untagged: false``, repositories by their name
  without the project.
"""

import json
import logging
from functools import partial

from harbor_deploy.lib.harbor_api.resources.common import Change, FieldChange, find_project
from harbor_deploy.lib.harbor_api.resources.retention import selector_entry, selectors

logger = logging.getLogger(__name__)

ACTION = "immutable"
# What Harbor's UI sends for every immutable rule (one template only).
TEMPLATE = "immutable_template"


def immutable_spec(raw_rules):
    """``[{repositories? | exclude_repositories?, tags? | exclude_tags?, disabled?}]``
    (shape checked by ``schema``) -> Harbor's rules; two rules selecting alike refused."""
    rules = []
    for index, raw in enumerate(raw_rules):
        tag_selectors, scope_selectors = selectors(raw)
        rule = {
            "disabled": bool(raw.get("disabled", False)),
            "action": ACTION,
            "template": TEMPLATE,
            "tag_selectors": tag_selectors,
            "scope_selectors": scope_selectors,
        }
        first = next((number for number, other in enumerate(rules) if _selects(other) == _selects(rule)), None)
        if first is not None:
            raise ValueError(f"immutable_tags rule {index} selects what rule {first} selects: Harbor keeps one of each")
        rules.append(rule)
    return rules


def _selects(rule):
    """What a rule selects, in one comparable form (Harbor's answer or a wanted rule)."""
    return json.dumps(selector_entry(rule) or [rule.get("tag_selectors"), rule.get("scope_selectors")], sort_keys=True)


def describe(rule):
    """A rule in the inventory's words, for the changes shown: ``tags v*`` or ``all``."""
    entry = selector_entry(rule) or {}
    return ", ".join(f"{key} {value}" for key, value in entry.items()) or "all tags"


def rules_path(project_id):
    return f"/projects/{project_id}/immutabletagrules"


def plan_immutable_rules(client, specs, _store=None):
    """Each project's rules brought to its ``immutable_tags`` list (projects without the
    key left as Harbor has them)."""
    changes = []
    for spec in specs:
        if spec["state"] == "absent" or spec["immutable_tags"] is None:
            continue
        name = spec["name"]
        project = find_project(client, name)
        current = client.list(rules_path(project["project_id"]), f"immutable rules of {name}") if project else []
        changes += _rule_changes(client, name, spec["immutable_tags"], current)
    return changes


def _rule_changes(client, project, wanted, current):
    """Rules that select the same are the same rule; of the others, those left pair up
    in order (one update each), then the remaining are created or deleted."""
    left = list(current)
    pairs, unmatched = [], []
    for rule in wanted:
        same = next((have for have in left if _selects(have) == _selects(rule)), None)
        if same is None:
            unmatched.append(rule)
        else:
            left.remove(same)
            pairs.append((rule, same))
    pairs += list(zip(unmatched, left, strict=False))
    created = unmatched[len(left) :]
    deleted = left[len(unmatched) :]
    changes = []
    for rule, have in pairs:
        changes += _update_changes(client, project, rule, have)
    for rule in created:
        label = f"{project} ({describe(rule)})"
        changes.append(Change("create", "immutable rule", label, apply=partial(_create, client, project, rule)))
    for have in deleted:
        resource = f"immutable rule {have['id']} of {project}"
        delete = partial(client.delete, f"{rules_path(have['project_id'])}/{have['id']}", resource)
        changes.append(Change("delete", "immutable rule", f"{project} ({describe(have)})", apply=delete))
    return changes


def _update_changes(client, project, rule, have):
    """The PUTs bringing ``have`` (Harbor's rule) to ``rule``: the selectors, then the
    switch (Harbor applies only the switch when both differ)."""
    label = f"{project} ({describe(have)})"
    path = f"{rules_path(have['project_id'])}/{have['id']}"
    resource = f"immutable rule {have['id']} of {project}"
    changes = []
    disabled = bool(have.get("disabled", False))
    if _selects(have) != _selects(rule):
        body = {**rule, "id": have["id"], "disabled": disabled}
        field = FieldChange("selects", describe(have), describe(rule))
        changes.append(Change("update", "immutable rule", label, (field,), partial(client.put, path, resource, body)))
    if disabled != rule["disabled"]:
        body = {**rule, "id": have["id"]}
        field = FieldChange("disabled", disabled, rule["disabled"])
        changes.append(Change("update", "immutable rule", label, (field,), partial(client.put, path, resource, body)))
    return changes


def _create(client, project, rule):
    """Create the rule (Harbor stores it enabled), then disable it when wanted."""
    found = find_project(client, project)
    path = rules_path(found["project_id"])
    resource = f"immutable rule of {project}"
    location = client.post(path, resource, rule).headers.get("Location", "")
    if rule["disabled"]:
        rule_id = int(location.rstrip("/").rsplit("/", 1)[-1])
        client.put(f"{path}/{rule_id}", resource, {**rule, "id": rule_id})


def export_immutable_rules(client, project_id, project):
    """A project's ``immutable_tags`` (None without rules, and with a warning when a
    rule is one an entry can't say: the list is the project's whole list, so a list
    without it would delete it)."""
    found = []
    for rule in client.list(rules_path(project_id), f"immutable rules of project {project}"):
        entry = selector_entry(rule)
        if entry is None:
            logger.warning("immutable tag rules of project %s hold a rule an entry can't say: not exported", project)
            return None
        if rule.get("disabled"):
            entry["disabled"] = True
        found.append(entry)
    return found or None
