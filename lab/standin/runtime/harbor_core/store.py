"""Core's state in PostgreSQL (tables of migrations/postgresql/), as the dicts the
API code works with. Each method is one transaction; uniqueness is checked before
writing (so a refused create uses up no id, like Harbor's own checks) and held by
the tables' constraints."""

import datetime
import json

from psycopg2.extras import Json

from harbor_core.auth import ROLE_PROJECT_ADMIN, hash_password
from harbor_core.errors import bad_request, conflict, precondition

# Vendor types of the scheduled jobs and executions (src/jobservice/job/known_jobs.go).
GC_VENDOR = "GARBAGE_COLLECTION"
PURGE_AUDIT_VENDOR = "PURGE_AUDIT_LOG"
SCAN_ALL_VENDOR = "SCAN_ALL"
REPLICATION_VENDOR = "REPLICATION"


def iso(stamp):
    """A timestamp as the API shows it (UTC, microseconds)."""
    return stamp.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


USER_COLUMNS = "user_id, username, email, realname, comment, sysadmin_flag, password, salt, creation_time, update_time"
# A project with what the API shows of it: metadata, members (user id -> role), groups
# that are members (group id -> role), its quota's id and storage limit.
PROJECT_QUERY = """
SELECT p.project_id, p.name, p.owner_id, p.registry_id, p.creation_time, p.update_time,
       COALESCE((SELECT json_object_agg(m.name, m.value) FROM project_metadata m
                 WHERE m.project_id = p.project_id), '{}') AS metadata,
       COALESCE((SELECT json_object_agg(pm.entity_id::text, pm.role) FROM project_member pm
                 WHERE pm.project_id = p.project_id AND pm.entity_type = 'u'), '{}') AS members,
       COALESCE((SELECT json_object_agg(pm.entity_id::text, pm.role) FROM project_member pm
                 WHERE pm.project_id = p.project_id AND pm.entity_type = 'g'), '{}') AS group_members,
       q.id AS quota_id, (q.hard->>'storage')::bigint AS storage_limit
FROM project p
LEFT JOIN quota q ON q.reference = 'project' AND q.reference_id = p.project_id::text
"""
# Members as the API lists them: the entity's name from its user or group.
MEMBER_QUERY = """
SELECT pm.id, pm.project_id, pm.entity_id, pm.entity_type, pm.role,
       COALESCE(u.username, g.group_name, '') AS entity_name
FROM project_member pm
LEFT JOIN harbor_user u ON pm.entity_type = 'u' AND u.user_id = pm.entity_id
LEFT JOIN user_group g ON pm.entity_type = 'g' AND g.id = pm.entity_id
"""
GROUP_COLUMNS = "id, group_name, group_type, ldap_group_dn, creation_time, update_time"
ROBOT_COLUMNS = (
    "id, name, description, project_id, level, duration, expires_at, disabled, secret, salt, permissions, "
    "creator_ref, creation_time, update_time"
)
REGISTRY_COLUMNS = (
    "id, name, url, type, insecure, description, credential_type, access_key, access_secret, "
    "creation_time, update_time"
)


def user_dict(row):
    return {
        "user_id": row["user_id"],
        "username": row["username"],
        "email": row["email"] or "",
        "realname": row["realname"],
        "comment": row["comment"],
        "sysadmin_flag": row["sysadmin_flag"],
        "password": {"salt": row["salt"], "hash": row["password"]},
        "creation_time": iso(row["creation_time"]),
        "update_time": iso(row["update_time"]),
    }


def project_dict(row):
    return {
        "project_id": row["project_id"],
        "name": row["name"],
        "owner_id": row["owner_id"],
        "registry_id": row["registry_id"],
        "metadata": dict(row["metadata"]),
        "members": dict(row["members"]),
        "group_members": dict(row["group_members"]),
        "quota_id": row["quota_id"],
        "storage_limit": -1 if row["storage_limit"] is None else row["storage_limit"],
        "creation_time": iso(row["creation_time"]),
        "update_time": iso(row["update_time"]),
    }


def robot_dict(row):
    return {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "project_id": row["project_id"],
        "level": row["level"],
        "duration": row["duration"],
        "expires_at": row["expires_at"],
        "disable": row["disabled"],
        "secret": {"salt": row["salt"], "hash": row["secret"]},
        "permissions": row["permissions"],
        "creator_ref": row["creator_ref"],
        "creation_time": iso(row["creation_time"]),
        "update_time": iso(row["update_time"]),
    }


def registry_dict(row):
    credential = {}
    if row["access_key"]:
        credential = {
            "type": row["credential_type"],
            "access_key": row["access_key"],
            "access_secret": row["access_secret"],
        }
    return {
        "id": row["id"],
        "name": row["name"],
        "url": row["url"],
        "type": row["type"],
        "insecure": row["insecure"],
        "description": row["description"],
        "credential": credential,
        "creation_time": iso(row["creation_time"]),
        "update_time": iso(row["update_time"]),
    }


class Store:
    def __init__(self, database):
        self.database = database

    def transaction(self):
        return self.database.transaction()

    # --- users ---------------------------------------------------------------

    def set_initial_admin_password(self, password):
        """The admin's password, once: Harbor seeds it only while none is set."""
        hashed = hash_password(password)
        with self.transaction() as cursor:
            cursor.execute(
                "UPDATE harbor_user SET password = %s, salt = %s WHERE user_id = 1 AND salt = ''",
                (hashed["hash"], hashed["salt"]),
            )

    def users(self):
        with self.transaction() as cursor:
            cursor.execute(f"SELECT {USER_COLUMNS} FROM harbor_user ORDER BY user_id")
            return [user_dict(row) for row in cursor.fetchall()]

    def user(self, user_id=None, username=None):
        with self.transaction() as cursor:
            cursor.execute(
                f"SELECT {USER_COLUMNS} FROM harbor_user WHERE user_id = %s OR username = %s",
                (user_id, username),
            )
            row = cursor.fetchone()
        return user_dict(row) if row else None

    def create_user(self, username, profile, password):
        hashed = hash_password(password)
        with self.transaction() as cursor:
            cursor.execute("SELECT 1 FROM harbor_user WHERE username = %s OR email = %s", (username, profile["email"]))
            if cursor.fetchone():
                raise conflict(f"user {username} or email {profile['email']} already exists")
            cursor.execute(
                "INSERT INTO harbor_user (username, email, realname, comment, password, salt) "
                "VALUES (%s, %s, %s, %s, %s, %s) RETURNING user_id",
                (username, profile["email"], profile["realname"], profile["comment"], hashed["hash"], hashed["salt"]),
            )
            return cursor.fetchone()["user_id"]

    def set_password(self, user_id, password):
        hashed = hash_password(password)
        with self.transaction() as cursor:
            cursor.execute(
                "UPDATE harbor_user SET password = %s, salt = %s, update_time = now() WHERE user_id = %s",
                (hashed["hash"], hashed["salt"], user_id),
            )

    def update_profile(self, user_id, profile):
        with self.transaction() as cursor:
            cursor.execute(
                "UPDATE harbor_user SET email = %s, realname = %s, comment = %s, update_time = now() "
                "WHERE user_id = %s",
                (profile["email"], profile["realname"], profile["comment"], user_id),
            )

    def delete_user(self, user_id):
        """The user and their memberships."""
        with self.transaction() as cursor:
            cursor.execute("DELETE FROM project_member WHERE entity_id = %s AND entity_type = 'u'", (user_id,))
            cursor.execute("DELETE FROM harbor_user WHERE user_id = %s", (user_id,))

    def set_sysadmin_flag(self, user_id, flag):
        with self.transaction() as cursor:
            cursor.execute(
                "UPDATE harbor_user SET sysadmin_flag = %s, update_time = now() WHERE user_id = %s", (flag, user_id)
            )

    def onboard_user(self, username, email, realname, comment, password):
        """A user of an external directory, on its first login (no email: none stored)."""
        hashed = hash_password(password)
        with self.transaction() as cursor:
            cursor.execute(
                "INSERT INTO harbor_user (username, email, realname, comment, password, salt) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (username) DO NOTHING",
                (username, email or None, realname, comment, hashed["hash"], hashed["salt"]),
            )

    def count_users(self):
        """Users but the admin (user id 1), as Harbor counts them."""
        with self.transaction() as cursor:
            cursor.execute("SELECT count(*) AS n FROM harbor_user WHERE user_id > 1")
            return cursor.fetchone()["n"]

    # --- projects, members and quotas -----------------------------------------

    def projects(self):
        with self.transaction() as cursor:
            cursor.execute(PROJECT_QUERY + " ORDER BY p.project_id")
            return [project_dict(row) for row in cursor.fetchall()]

    def quota_project(self, quota_id):
        """The project of the quota ``quota_id``, or None."""
        with self.transaction() as cursor:
            cursor.execute(PROJECT_QUERY + " WHERE q.id = %s", (int(quota_id),))
            row = cursor.fetchone()
        return project_dict(row) if row else None

    def project(self, key, by_name=False):
        if not by_name and not str(key).isdigit():
            return None
        with self.transaction() as cursor:
            if by_name:
                cursor.execute(PROJECT_QUERY + " WHERE p.name = %s", (str(key),))
            else:
                cursor.execute(PROJECT_QUERY + " WHERE p.project_id = %s", (int(key),))
            row = cursor.fetchone()
        return project_dict(row) if row else None

    def create_project(self, name, owner_id, metadata, storage_limit, registry_id):
        """The project, its metadata, its owner as project admin and its quota."""
        with self.transaction() as cursor:
            cursor.execute("SELECT 1 FROM project WHERE name = %s", (name,))
            if cursor.fetchone():
                raise conflict(f"project {name} already exists")
            cursor.execute(
                "INSERT INTO project (owner_id, name, registry_id) VALUES (%s, %s, %s) RETURNING project_id",
                (owner_id, name, registry_id),
            )
            project_id = cursor.fetchone()["project_id"]
            for key, value in metadata.items():
                cursor.execute(
                    "INSERT INTO project_metadata (project_id, name, value) VALUES (%s, %s, %s)",
                    (project_id, key, value),
                )
            cursor.execute(
                "INSERT INTO project_member (project_id, entity_id, role) VALUES (%s, %s, %s)",
                (project_id, owner_id, ROLE_PROJECT_ADMIN),
            )
            # Every project starts with an empty CVE allowlist (controller/project).
            cursor.execute("INSERT INTO cve_allowlist (project_id) VALUES (%s)", (project_id,))
            cursor.execute(
                "INSERT INTO quota (reference_id, hard) VALUES (%s, %s)",
                (str(project_id), Json({"storage": storage_limit})),
            )
            return project_id

    @staticmethod
    def _set_metadata(cursor, project_id, metadata):
        for key, value in metadata.items():
            cursor.execute(
                "INSERT INTO project_metadata (project_id, name, value) VALUES (%s, %s, %s) "
                "ON CONFLICT (project_id, name) DO UPDATE SET value = EXCLUDED.value",
                (project_id, key, value),
            )
        cursor.execute("UPDATE project SET update_time = now() WHERE project_id = %s", (project_id,))

    def update_metadata(self, project_id, metadata):
        with self.transaction() as cursor:
            self._set_metadata(cursor, project_id, metadata)

    def delete_project(self, project_id):
        """The project with its metadata and members (cascades), quota, robots and allowlist."""
        with self.transaction() as cursor:
            cursor.execute("DELETE FROM robot WHERE project_id = %s", (project_id,))
            cursor.execute("DELETE FROM cve_allowlist WHERE project_id = %s", (project_id,))
            cursor.execute("DELETE FROM quota WHERE reference = 'project' AND reference_id = %s", (str(project_id),))
            cursor.execute("DELETE FROM project WHERE project_id = %s", (project_id,))

    def members(self, project_id):
        with self.transaction() as cursor:
            cursor.execute(MEMBER_QUERY + " WHERE pm.project_id = %s ORDER BY pm.id", (project_id,))
            return [dict(row) for row in cursor.fetchall()]

    def add_member(self, project, entity_id, entity_type, role):
        """Like Harbor (controller/member): one membership per entity and project."""
        with self.transaction() as cursor:
            cursor.execute(
                "SELECT 1 FROM project_member WHERE project_id = %s AND entity_id = %s AND entity_type = %s",
                (project["project_id"], entity_id, entity_type),
            )
            if cursor.fetchone():
                raise conflict("The project member specified already exist")
            cursor.execute(
                "INSERT INTO project_member (project_id, entity_id, entity_type, role) VALUES (%s, %s, %s, %s) "
                "RETURNING id",
                (project["project_id"], entity_id, entity_type, role),
            )
            return cursor.fetchone()["id"]

    def set_member_role(self, project_id, member_id, role):
        """A member's new role, or (role None) the membership removed."""
        with self.transaction() as cursor:
            if role is None:
                cursor.execute("DELETE FROM project_member WHERE project_id = %s AND id = %s", (project_id, member_id))
            else:
                cursor.execute(
                    "UPDATE project_member SET role = %s WHERE project_id = %s AND id = %s",
                    (role, project_id, member_id),
                )

    # --- user groups -------------------------------------------------------------

    def groups(self):
        with self.transaction() as cursor:
            cursor.execute(f"SELECT {GROUP_COLUMNS} FROM user_group ORDER BY id")
            return [dict(row) for row in cursor.fetchall()]

    def group(self, group_id):
        with self.transaction() as cursor:
            cursor.execute(f"SELECT {GROUP_COLUMNS} FROM user_group WHERE id = %s", (group_id,))
            row = cursor.fetchone()
        return dict(row) if row else None

    def create_group(self, name, group_type, ldap_group_dn):
        """Like Harbor (pkg/usergroup): a name is unique per type, and among HTTP groups
        for any type (its dao.Add checks only those)."""
        with self.transaction() as cursor:
            cursor.execute(
                "SELECT 1 FROM user_group WHERE group_name = %s AND (group_type = %s OR group_type = 2)",
                (name, group_type),
            )
            if cursor.fetchone():
                raise conflict(
                    f"duplicate user group, group name:{name}, group type: {group_type}, ldap group DN: {ldap_group_dn}"
                )
            cursor.execute(
                "INSERT INTO user_group (group_name, group_type, ldap_group_dn) VALUES (%s, %s, %s) RETURNING id",
                (name, group_type, ldap_group_dn),
            )
            return cursor.fetchone()["id"]

    def onboard_ldap_group(self, name, dn):
        """pkg/usergroup ``onBoardLdapUserGroup``: the id of the LDAP group of ``dn``,
        created at a login when missing (named by its DN when its name is taken)."""
        with self.transaction() as cursor:
            cursor.execute("SELECT id, ldap_group_dn FROM user_group WHERE group_name = %s AND group_type = 1", (name,))
            same_name = cursor.fetchone()
            if same_name and same_name["ldap_group_dn"] == dn:
                return same_name["id"]
            cursor.execute("SELECT id FROM user_group WHERE ldap_group_dn = %s AND group_type = 1", (dn,))
            found = cursor.fetchone()
            if found:
                return found["id"]
            cursor.execute(
                "INSERT INTO user_group (group_name, group_type, ldap_group_dn) VALUES (%s, 1, %s) RETURNING id",
                (dn[:255] if same_name else name, dn),
            )
            return cursor.fetchone()["id"]

    def rename_group(self, group_id, name):
        with self.transaction() as cursor:
            cursor.execute("UPDATE user_group SET group_name = %s, update_time = now() WHERE id = %s", (name, group_id))

    def delete_group(self, group_id):
        """The group and its project memberships."""
        with self.transaction() as cursor:
            cursor.execute("DELETE FROM user_group WHERE id = %s", (group_id,))
            cursor.execute("DELETE FROM project_member WHERE entity_id = %s AND entity_type = 'g'", (group_id,))

    # --- CVE allowlists (project 0: the system's) ------------------------------------

    def allowlist(self, project_id):
        """The list of a project (0: the system), empty when none was set."""
        with self.transaction() as cursor:
            cursor.execute(
                "SELECT id, project_id, expires_at, items, creation_time, update_time FROM cve_allowlist "
                "WHERE project_id = %s",
                (project_id,),
            )
            row = cursor.fetchone()
        if not row:
            return {"project_id": project_id, "items": []}
        return {**dict(row), "creation_time": iso(row["creation_time"]), "update_time": iso(row["update_time"])}

    def set_allowlist(self, project_id, items, expires_at):
        with self.transaction() as cursor:
            cursor.execute(
                "INSERT INTO cve_allowlist (project_id, expires_at, items) VALUES (%s, %s, %s) "
                "ON CONFLICT (project_id) DO UPDATE SET expires_at = EXCLUDED.expires_at, items = EXCLUDED.items, "
                "update_time = now()",
                (project_id, expires_at, Json(items)),
            )

    def set_storage_limit(self, project_id, storage):
        with self.transaction() as cursor:
            cursor.execute(
                "UPDATE quota SET hard = %s, update_time = now() WHERE reference = 'project' AND reference_id = %s",
                (Json({"storage": storage}), str(project_id)),
            )
            cursor.execute("UPDATE project SET update_time = now() WHERE project_id = %s", (project_id,))

    # --- robots ----------------------------------------------------------------

    def robots(self):
        with self.transaction() as cursor:
            cursor.execute(f"SELECT {ROBOT_COLUMNS} FROM robot ORDER BY id")
            return [robot_dict(row) for row in cursor.fetchall()]

    def robot(self, robot_id=None, name=None):
        with self.transaction() as cursor:
            cursor.execute(f"SELECT {ROBOT_COLUMNS} FROM robot WHERE id = %s OR name = %s", (robot_id, name))
            row = cursor.fetchone()
        return robot_dict(row) if row else None

    def create_robot(self, robot, secret):
        """The new robot's id; ``robot`` holds the stored name and settings."""
        hashed = hash_password(secret)
        with self.transaction() as cursor:
            cursor.execute("SELECT 1 FROM robot WHERE name = %s", (robot["name"],))
            if cursor.fetchone():
                raise conflict(f"robot account {robot['project_id']}:{robot['name']} already exists")
            cursor.execute(
                "INSERT INTO robot (name, description, project_id, level, duration, expires_at, secret, salt, "
                "permissions, creator_ref) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "RETURNING id, creation_time",
                (
                    robot["name"],
                    robot["description"],
                    robot["project_id"],
                    robot["level"],
                    robot["duration"],
                    robot["expires_at"],
                    hashed["hash"],
                    hashed["salt"],
                    Json(robot["permissions"]),
                    robot["creator_ref"],
                ),
            )
            row = cursor.fetchone()
            return row["id"], iso(row["creation_time"])

    def update_robot(self, robot_id, description, duration, expires_at, disabled, permissions):
        with self.transaction() as cursor:
            cursor.execute(
                "UPDATE robot SET description = %s, duration = %s, expires_at = %s, disabled = %s, "
                "permissions = %s, update_time = now() WHERE id = %s",
                (description, duration, expires_at, disabled, Json(permissions), robot_id),
            )

    def set_robot_secret(self, robot_id, secret):
        hashed = hash_password(secret)
        with self.transaction() as cursor:
            cursor.execute(
                "UPDATE robot SET secret = %s, salt = %s, update_time = now() WHERE id = %s",
                (hashed["hash"], hashed["salt"], robot_id),
            )

    def delete_robot(self, robot_id):
        with self.transaction() as cursor:
            cursor.execute("DELETE FROM robot WHERE id = %s", (robot_id,))

    # --- registry endpoints ------------------------------------------------------

    def registries(self):
        with self.transaction() as cursor:
            cursor.execute(f"SELECT {REGISTRY_COLUMNS} FROM registry ORDER BY id")
            return [registry_dict(row) for row in cursor.fetchall()]

    def registry(self, registry_id):
        with self.transaction() as cursor:
            cursor.execute(f"SELECT {REGISTRY_COLUMNS} FROM registry WHERE id = %s", (int(registry_id),))
            row = cursor.fetchone()
        return registry_dict(row) if row else None

    @staticmethod
    def _registry_values(registry):
        credential = registry.get("credential") or {}
        return (
            registry["name"],
            registry["url"],
            registry["type"],
            bool(registry["insecure"]),
            registry["description"],
            credential.get("type") or "",
            credential.get("access_key") or "",
            credential.get("access_secret") or "",
        )

    def create_registry(self, registry):
        with self.transaction() as cursor:
            cursor.execute("SELECT 1 FROM registry WHERE name = %s", (registry["name"],))
            if cursor.fetchone():
                raise conflict(f"registry {registry['name']} already exists")
            cursor.execute(
                "INSERT INTO registry (name, url, type, insecure, description, credential_type, access_key, "
                "access_secret) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                self._registry_values(registry),
            )
            return cursor.fetchone()["id"]

    def update_registry(self, registry_id, registry):
        with self.transaction() as cursor:
            cursor.execute("SELECT 1 FROM registry WHERE name = %s AND id <> %s", (registry["name"], registry_id))
            if cursor.fetchone():
                raise conflict(f"registry {registry['name']} already exists")
            cursor.execute(
                "UPDATE registry SET name = %s, url = %s, type = %s, insecure = %s, description = %s, "
                "credential_type = %s, access_key = %s, access_secret = %s, update_time = now() WHERE id = %s",
                (*self._registry_values(registry), registry_id),
            )

    def delete_registry(self, registry_id):
        """Like Harbor (src/controller/registry/controller.go ``Delete``): not while a
        replication policy or a proxy cache project uses the endpoint."""
        with self.transaction() as cursor:
            cursor.execute(
                "SELECT 1 FROM replication_policy WHERE src_registry_id = %s OR dest_registry_id = %s",
                (registry_id, registry_id),
            )
            if cursor.fetchone():
                raise precondition(
                    f"the registry {registry_id} is referenced by replication policies, cannot delete it"
                )
            cursor.execute("SELECT 1 FROM project WHERE registry_id = %s", (registry_id,))
            if cursor.fetchone():
                raise precondition(f"the registry {registry_id} is referenced by proxy cache project, cannot delete it")
            cursor.execute("DELETE FROM registry WHERE id = %s", (registry_id,))

    # --- tag retention -------------------------------------------------------------

    def retention(self, policy_id):
        with self.transaction() as cursor:
            cursor.execute("SELECT id, data FROM retention_policy WHERE id = %s", (int(policy_id),))
            row = cursor.fetchone()
        return {**row["data"], "id": row["id"]} if row else None

    def create_retention(self, project, policy):
        """The policy's id; the project is bound to it by its ``retention_id`` metadata."""
        with self.transaction() as cursor:
            cursor.execute(
                "SELECT 1 FROM project_metadata WHERE project_id = %s AND name = 'retention_id'",
                (project["project_id"],),
            )
            if cursor.fetchone():
                raise bad_request(f"project {project['name']} already has a retention policy")
            cursor.execute(
                "INSERT INTO retention_policy (scope_level, scope_reference, data) VALUES ('project', %s, %s) "
                "RETURNING id",
                (project["project_id"], Json(policy)),
            )
            policy_id = cursor.fetchone()["id"]
            self._set_metadata(cursor, project["project_id"], {"retention_id": str(policy_id)})
            return policy_id

    def update_retention(self, policy_id, policy):
        with self.transaction() as cursor:
            cursor.execute(
                "UPDATE retention_policy SET data = %s, update_time = now() WHERE id = %s", (Json(policy), policy_id)
            )

    # --- schedules of system jobs (garbage collection, audit-log purge) -------------

    def schedule(self, vendor):
        with self.transaction() as cursor:
            cursor.execute(
                "SELECT id, cron, cron_type, extra_attrs, creation_time, update_time FROM schedule "
                "WHERE vendor_type = %s",
                (vendor,),
            )
            row = cursor.fetchone()
        if not row:
            return None
        return {
            "id": row["id"],
            # Like real: job_kind carries the cron; the parameters are a JSON string.
            "job_kind": row["cron"],
            "job_parameters": json.dumps(row["extra_attrs"]),
            "schedule": {"type": row["cron_type"], "cron": row["cron"]},
            "job_status": "Pending",
            "creation_time": iso(row["creation_time"]),
            "update_time": iso(row["update_time"]),
        }

    def set_schedule(self, vendor, kind, cron, parameters):
        """A job's schedule (created, or replaced keeping its id and creation time);
        ``kind`` None removes it."""
        with self.transaction() as cursor:
            if kind is None:
                cursor.execute("DELETE FROM schedule WHERE vendor_type = %s", (vendor,))
                return
            cursor.execute(
                "INSERT INTO schedule (vendor_type, cron, cron_type, extra_attrs) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (vendor_type) DO UPDATE SET cron = EXCLUDED.cron, cron_type = EXCLUDED.cron_type, "
                "extra_attrs = EXCLUDED.extra_attrs, update_time = now()",
                (vendor, cron, kind, Json(parameters)),
            )

    # --- system configuration -------------------------------------------------------

    def properties(self):
        with self.transaction() as cursor:
            cursor.execute("SELECT k, v FROM properties")
            return {row["k"]: json.loads(row["v"]) for row in cursor.fetchall()}

    def save_properties(self, settings):
        with self.transaction() as cursor:
            for key, value in settings.items():
                cursor.execute(
                    "INSERT INTO properties (k, v) VALUES (%s, %s) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
                    (key, json.dumps(value)),
                )

    # --- immutable tag rules -----------------------------------------------------------

    def immutable_rules(self, project_id=None):
        """The rules (of one project, or all), by id; ``disabled`` from its own column."""
        with self.transaction() as cursor:
            cursor.execute(
                "SELECT id, project_id, tag_filter, disabled FROM immutable_tag_rule "
                "WHERE %s IS NULL OR project_id = %s ORDER BY id",
                (project_id, project_id),
            )
            rows = cursor.fetchall()
        return [
            {
                **json.loads(row["tag_filter"]),
                "id": row["id"],
                "project_id": row["project_id"],
                "disabled": row["disabled"],
            }
            for row in rows
        ]

    def create_immutable_rule(self, project_id, tag_filter, disabled):
        with self.transaction() as cursor:
            cursor.execute(
                "SELECT 1 FROM immutable_tag_rule WHERE project_id = %s AND tag_filter = %s", (project_id, tag_filter)
            )
            if cursor.fetchone():
                raise conflict("immutable rule already exists")
            cursor.execute(
                "INSERT INTO immutable_tag_rule (project_id, tag_filter, disabled) VALUES (%s, %s, %s) RETURNING id",
                (project_id, tag_filter, disabled),
            )
            return cursor.fetchone()["id"]

    def update_immutable_rule(self, rule_id, project_id, tag_filter=None, disabled=None):
        """The rule's content, or (``disabled`` given) only its switch."""
        with self.transaction() as cursor:
            if disabled is not None:
                cursor.execute("UPDATE immutable_tag_rule SET disabled = %s WHERE id = %s", (disabled, rule_id))
                return
            cursor.execute(
                "SELECT 1 FROM immutable_tag_rule WHERE project_id = %s AND tag_filter = %s AND id <> %s",
                (project_id, tag_filter, rule_id),
            )
            if cursor.fetchone():
                raise conflict("immutable rule already exists")
            cursor.execute(
                "UPDATE immutable_tag_rule SET tag_filter = %s, project_id = %s WHERE id = %s",
                (tag_filter, project_id, rule_id),
            )

    def delete_immutable_rule(self, rule_id):
        with self.transaction() as cursor:
            cursor.execute("DELETE FROM immutable_tag_rule WHERE id = %s", (rule_id,))

    # --- webhook policies ----------------------------------------------------------------

    WEBHOOK_COLUMNS = (
        "id, name, project_id, enabled, description, targets, event_types, creator, creation_time, update_time"
    )

    def webhook_policies(self, project_id):
        with self.transaction() as cursor:
            cursor.execute(
                f"SELECT {self.WEBHOOK_COLUMNS} FROM notification_policy WHERE project_id = %s ORDER BY id",
                (project_id,),
            )
            rows = cursor.fetchall()
        return [self._webhook_dict(row) for row in rows]

    @staticmethod
    def _webhook_dict(row):
        return {**dict(row), "creation_time": iso(row["creation_time"]), "update_time": iso(row["update_time"])}

    def webhook_policy(self, policy_id):
        with self.transaction() as cursor:
            cursor.execute(f"SELECT {self.WEBHOOK_COLUMNS} FROM notification_policy WHERE id = %s", (policy_id,))
            row = cursor.fetchone()
        return self._webhook_dict(row) if row else None

    def save_webhook_policy(self, policy, policy_id=None):
        """Create (``policy_id`` None) or replace a policy; names are unique per project."""
        with self.transaction() as cursor:
            cursor.execute(
                "SELECT 1 FROM notification_policy WHERE name = %s AND project_id = %s AND id <> %s",
                (policy["name"], policy["project_id"], policy_id or 0),
            )
            if cursor.fetchone():
                raise conflict(f"notification policy named {policy['name']} already exists")
            values = (
                policy["name"],
                policy["project_id"],
                policy["enabled"],
                policy["description"],
                Json(policy["targets"]),
                Json(policy["event_types"]),
            )
            if policy_id is None:
                cursor.execute(
                    "INSERT INTO notification_policy (name, project_id, enabled, description, targets, event_types, "
                    "creator) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
                    (*values, policy["creator"]),
                )
                return cursor.fetchone()["id"]
            cursor.execute(
                "UPDATE notification_policy SET name = %s, project_id = %s, enabled = %s, description = %s, "
                "targets = %s, event_types = %s, update_time = now() WHERE id = %s",
                (*values, policy_id),
            )
            return policy_id

    def delete_webhook_policy(self, policy_id):
        with self.transaction() as cursor:
            cursor.execute("DELETE FROM notification_policy WHERE id = %s", (policy_id,))

    # --- replication policies, executions and tasks ------------------------------------------

    def replication_policies(self):
        with self.transaction() as cursor:
            cursor.execute("SELECT id, data, creation_time, update_time FROM replication_policy ORDER BY id")
            rows = cursor.fetchall()
        return [self._replication_dict(row) for row in rows]

    @staticmethod
    def _replication_dict(row):
        return {
            **row["data"],
            "id": row["id"],
            "creation_time": iso(row["creation_time"]),
            "update_time": iso(row["update_time"]),
        }

    def replication_policy(self, policy_id):
        with self.transaction() as cursor:
            cursor.execute(
                "SELECT id, data, creation_time, update_time FROM replication_policy WHERE id = %s", (policy_id,)
            )
            row = cursor.fetchone()
        return self._replication_dict(row) if row else None

    def save_replication_policy(self, policy, policy_id=None):
        """Create (``policy_id`` None) or replace a policy; names are unique."""
        with self.transaction() as cursor:
            cursor.execute(
                "SELECT 1 FROM replication_policy WHERE name = %s AND id <> %s", (policy["name"], policy_id or 0)
            )
            if cursor.fetchone():
                raise conflict(f"replication policy {policy['name']} already exists")
            values = (policy["name"], Json(policy), policy["src_registry_id"], policy["dest_registry_id"])
            if policy_id is None:
                cursor.execute(
                    "INSERT INTO replication_policy (name, data, src_registry_id, dest_registry_id) "
                    "VALUES (%s, %s, %s, %s) RETURNING id",
                    values,
                )
                return cursor.fetchone()["id"]
            cursor.execute(
                "UPDATE replication_policy SET name = %s, data = %s, src_registry_id = %s, dest_registry_id = %s, "
                "update_time = now() WHERE id = %s",
                (*values, policy_id),
            )
            return policy_id

    def delete_replication_policy(self, policy_id):
        """The policy and its executions (src/controller/replication/policy.go ``DeletePolicy``)."""
        with self.transaction() as cursor:
            cursor.execute(
                "DELETE FROM execution WHERE vendor_type = %s AND vendor_id = %s", (REPLICATION_VENDOR, policy_id)
            )
            cursor.execute("DELETE FROM replication_policy WHERE id = %s", (policy_id,))

    EXECUTION_COLUMNS = "id, vendor_type, vendor_id, status, status_message, trigger, start_time, end_time"

    def create_execution(self, vendor, vendor_id, trigger, status):
        with self.transaction() as cursor:
            cursor.execute(
                "INSERT INTO execution (vendor_type, vendor_id, trigger, status) VALUES (%s, %s, %s, %s) RETURNING id",
                (vendor, vendor_id, trigger, status),
            )
            return cursor.fetchone()["id"]

    def end_execution(self, execution_id, status, message):
        with self.transaction() as cursor:
            cursor.execute(
                "UPDATE execution SET status = %s, status_message = %s, end_time = now() WHERE id = %s",
                (status, message, execution_id),
            )

    def executions(self, vendor, vendor_id=None):
        """Newest first, as Harbor lists them."""
        with self.transaction() as cursor:
            cursor.execute(
                f"SELECT {self.EXECUTION_COLUMNS} FROM execution WHERE vendor_type = %s "
                "AND (%s IS NULL OR vendor_id = %s) ORDER BY id DESC",
                (vendor, vendor_id, vendor_id),
            )
            return [self._run_dict(row) for row in cursor.fetchall()]

    @staticmethod
    def _run_dict(row):
        found = dict(row)
        found["start_time"] = iso(row["start_time"])
        found["end_time"] = iso(row["end_time"]) if row["end_time"] else None
        return found

    def add_task(self, execution_id, status, extra_attrs, log):
        with self.transaction() as cursor:
            cursor.execute(
                "INSERT INTO task (execution_id, status, extra_attrs, log, end_time) VALUES (%s, %s, %s, %s, now()) "
                "RETURNING id",
                (execution_id, status, Json(extra_attrs), log),
            )
            return cursor.fetchone()["id"]

    def tasks(self, execution_id):
        with self.transaction() as cursor:
            cursor.execute(
                "SELECT id, execution_id, status, extra_attrs, log, start_time, end_time FROM task "
                "WHERE execution_id = %s ORDER BY id",
                (execution_id,),
            )
            return [self._run_dict(row) for row in cursor.fetchall()]

    # --- scanner registrations -------------------------------------------------------------

    SCANNER_COLUMNS = (
        "uuid, name, url, description, disabled, is_default, use_internal_addr, immutable, skip_cert_verify, "
        "auth, access_cred, create_time, update_time"
    )

    def scanners(self):
        with self.transaction() as cursor:
            cursor.execute(f"SELECT {self.SCANNER_COLUMNS} FROM scanner_registration ORDER BY id")
            rows = cursor.fetchall()
        return [
            {**dict(row), "create_time": iso(row["create_time"]), "update_time": iso(row["update_time"])}
            for row in rows
        ]

    def ensure_scanner(self, uuid_value, name, url, description, use_internal_addr, immutable):
        """``scan.EnsureScanners``: registered by name when missing, its URL kept current."""
        with self.transaction() as cursor:
            cursor.execute("SELECT uuid FROM scanner_registration WHERE name = %s", (name,))
            if cursor.fetchone():
                cursor.execute(
                    "UPDATE scanner_registration SET url = %s WHERE name = %s AND url <> %s", (url, name, url)
                )
                return
            cursor.execute(
                "INSERT INTO scanner_registration (uuid, name, url, description, use_internal_addr, immutable) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (uuid_value, name, url, description, use_internal_addr, immutable),
            )

    def set_default_scanner(self, uuid_value):
        """``SetDefaultRegistration``: the enabled registration becomes the only default;
        whether one did."""
        with self.transaction() as cursor:
            cursor.execute(
                "UPDATE scanner_registration SET is_default = true, update_time = now() "
                "WHERE uuid = %s AND NOT disabled",
                (uuid_value,),
            )
            if cursor.rowcount == 0:
                return False
            cursor.execute("UPDATE scanner_registration SET is_default = false WHERE uuid <> %s", (uuid_value,))
            return True
