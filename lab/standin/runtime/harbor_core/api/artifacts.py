"""Repositories and artifacts with their tags, from the registry's storage
(``<data_volume>/registry``) as the registry wrote it; ids are derived from names. A
repository is deleted with its folder there."""

import datetime
import hashlib
import json
import shutil
from urllib.parse import unquote

from harbor_core.auth import ROLE_MAINTAINER, ROLE_PROJECT_ADMIN
from harbor_core.errors import bad_request, forbidden, not_found, unauthorized
from harbor_core.http import Response, Route, listing
from harbor_core.rules import NAME_PATTERN


def repositories(storage_root, project_name):
    root = storage_root / "repositories" / project_name
    if not root.is_dir():
        return []
    return [path for path in root.rglob("_manifests") if path.is_dir()]


def storage_id(text):
    """A stable positive id for what the real core numbers in its database."""
    return int(hashlib.sha256(text.encode()).hexdigest()[:12], 16)


def mtime_iso(path):
    stamp = datetime.datetime.fromtimestamp(path.stat().st_mtime, datetime.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def repository_dir(storage_root, project, repository_name):
    """The storage dir of ``<project>/<repository_name>`` or 404 (names as Harbor
    takes them in paths: "/" in the repository name double-encoded as %252F)."""
    name = unquote(unquote(repository_name))
    if not all(NAME_PATTERN.match(part) for part in name.split("/")):
        raise bad_request(f"repository name {name!r} is invalid")
    path = storage_root / "repositories" / project["name"] / name
    if not (path / "_manifests").is_dir():
        raise not_found(f"repository {project['name']}/{name} not found")
    return path


def repository_view(storage_root, project, path):
    name = str(path.relative_to(storage_root / "repositories"))
    revisions = list((path / "_manifests" / "revisions" / "sha256").glob("*/link"))
    links = revisions + list((path / "_manifests" / "tags").glob("*/current/link"))
    return {
        "id": storage_id(name),
        "project_id": project["project_id"],
        "name": name,
        "description": "",
        "artifact_count": len(revisions),
        "pull_count": 0,
        "creation_time": mtime_iso(path / "_manifests"),
        "update_time": mtime_iso(max(links, key=lambda link: link.stat().st_mtime))
        if links
        else mtime_iso(path / "_manifests"),
    }


def blob(storage_root, digest):
    algorithm, _, hex_digest = digest.partition(":")
    return (storage_root / "blobs" / algorithm / hex_digest[:2] / hex_digest / "data").read_bytes()


def list_repositories(app, request):
    root = app.settings.storage_root
    project = app.find_project(unquote(request.params[0]), request.by_name, request.principal)
    found = [
        repository_view(root, project, manifests.parent) for manifests in sorted(repositories(root, project["name"]))
    ]
    return listing(found, request.query)


def tag_links(path):
    """{digest: [tag link]} of a repository's storage dir (the tags in use)."""
    tags = {}
    for link in (path / "_manifests" / "tags").glob("*/current/link"):
        tags.setdefault(link.read_text().strip(), []).append(link)
    return tags


def revision_links(path):
    return list((path / "_manifests" / "revisions" / "sha256").glob("*/link"))


def stored_artifacts(storage_root, project_name):
    """Every artifact of a project as ``{repository, digest, tags}`` (tags sorted)."""
    found = []
    for manifests in sorted(repositories(storage_root, project_name)):
        path = manifests.parent
        name = str(path.relative_to(storage_root / "repositories"))
        tags = tag_links(path)
        for link in revision_links(path):
            digest = link.read_text().strip()
            found.append(
                {
                    "repository": name,
                    "digest": digest,
                    "tags": sorted(t.parent.parent.name for t in tags.get(digest, [])),
                }
            )
    return found


def tag_exists(storage_root, repository, tag):
    return (storage_root / "repositories" / repository / "_manifests" / "tags" / tag / "current" / "link").is_file()


def list_artifacts(app, request):
    """``Artifact``s of a repository with their tags, newest push first."""
    root = app.settings.storage_root
    project = app.find_project(unquote(request.params[0]), request.by_name, request.principal)
    path = repository_dir(root, project, request.params[1])
    repository = repository_view(root, project, path)
    tags = tag_links(path)
    artifacts = []
    for link in revision_links(path):
        digest = link.read_text().strip()
        manifest_bytes = blob(root, digest)
        manifest = json.loads(manifest_bytes)
        config = manifest.get("config") or {}
        artifact_id = storage_id(f"{repository['name']}@{digest}")
        artifacts.append(
            {
                "id": artifact_id,
                "type": "IMAGE",
                "media_type": config.get("mediaType", ""),
                "manifest_media_type": manifest.get("mediaType", ""),
                "project_id": project["project_id"],
                "repository_id": repository["id"],
                "repository_name": repository["name"],
                "digest": digest,
                "size": len(manifest_bytes)
                + config.get("size", 0)
                + sum(layer.get("size", 0) for layer in manifest.get("layers") or []),
                "push_time": mtime_iso(link),
                "pull_time": "0001-01-01T00:00:00.000Z",
                "extra_attrs": {},
                "annotations": manifest.get("annotations") or {},
                "references": [],
                "labels": [],
                "tags": [
                    {
                        "id": storage_id(f"{repository['name']}:{tag.parent.parent.name}"),
                        "repository_id": repository["id"],
                        "artifact_id": artifact_id,
                        "name": tag.parent.parent.name,
                        "push_time": mtime_iso(tag),
                        "pull_time": "0001-01-01T00:00:00.000Z",
                        "immutable": False,
                    }
                    for tag in sorted(tags.get(digest, []))
                ],
            }
        )
    return listing(sorted(artifacts, key=lambda artifact: artifact["push_time"], reverse=True), request.query)


def delete_repository(app, request):
    """handler/repository.go ``DeleteRepository``: the repository with its artifacts and
    tags (the registry's blobs stay until garbage collection). In the stand-in, whose
    repositories are the registry's storage, its folder there goes."""
    root = app.settings.storage_root
    project = app.find_project(unquote(request.params[0]), True, request.principal)
    path = repository_dir(root, project, request.params[1])
    require_repository_delete(request.principal, project)
    shutil.rmtree(path)
    return Response(200)


def require_repository_delete(principal, project):
    """RBAC (src/common/rbac/project/rbac_role.go): project admins and maintainers
    delete repositories."""
    if not principal.authenticated:
        raise unauthorized()
    if not (principal.is_admin or principal.role(project) in (ROLE_PROJECT_ADMIN, ROLE_MAINTAINER)):
        raise forbidden()


ROUTES = [
    Route("DELETE", r"/projects/([^/]+)/repositories/([^/]+)", delete_repository),
    Route("GET", r"/projects/([^/]+)/repositories", list_repositories),
    Route("GET", r"/projects/([^/]+)/repositories/([^/]+)/artifacts", list_artifacts),
]
