/*
The stand-in harbor-core's own schema (not Harbor's): tables named after Harbor's
concepts, holding what the stand-in serves. Applied on an empty database; the
admin's password is set by core at its first start (HARBOR_ADMIN_PASSWORD), as
Harbor does for the admin its initial schema inserts.
*/
CREATE TABLE harbor_user (
    user_id SERIAL PRIMARY KEY,
    username varchar(255) NOT NULL UNIQUE,
    email varchar(255) UNIQUE,
    password varchar(128) NOT NULL DEFAULT '',
    salt varchar(64) NOT NULL DEFAULT '',
    realname varchar(255) NOT NULL DEFAULT '',
    comment varchar(30) NOT NULL DEFAULT '',
    sysadmin_flag boolean NOT NULL DEFAULT false,
    creation_time timestamptz NOT NULL DEFAULT now(),
    update_time timestamptz NOT NULL DEFAULT now()
);
INSERT INTO harbor_user (username, email, realname, comment, sysadmin_flag)
VALUES ('admin', 'admin@example.com', 'system admin', 'admin user', true);

CREATE TABLE project (
    project_id SERIAL PRIMARY KEY,
    owner_id int NOT NULL REFERENCES harbor_user (user_id),
    name varchar(255) NOT NULL UNIQUE,
    -- the proxy cache's registry endpoint; 0 for a project of its own
    registry_id int NOT NULL DEFAULT 0,
    creation_time timestamptz NOT NULL DEFAULT now(),
    update_time timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE project_metadata (
    project_id int NOT NULL REFERENCES project (project_id) ON DELETE CASCADE,
    name varchar(255) NOT NULL,
    value varchar(255) NOT NULL,
    PRIMARY KEY (project_id, name)
);

-- Roles of users ('u') and user groups ('g') in projects; the API's member id is id.
CREATE TABLE project_member (
    id SERIAL PRIMARY KEY,
    project_id int NOT NULL REFERENCES project (project_id) ON DELETE CASCADE,
    entity_id int NOT NULL,
    entity_type char(1) NOT NULL DEFAULT 'u',
    role int NOT NULL,
    UNIQUE (project_id, entity_id, entity_type)
);

-- User groups: 1 LDAP (known by its DN, kept lowercased), 2 HTTP, 3 OIDC.
CREATE TABLE user_group (
    id SERIAL PRIMARY KEY,
    group_name varchar(255) NOT NULL,
    group_type smallint NOT NULL,
    ldap_group_dn varchar(512) NOT NULL DEFAULT '',
    creation_time timestamptz NOT NULL DEFAULT now(),
    update_time timestamptz NOT NULL DEFAULT now()
);

-- CVE allowlists: project_id 0 is the system's; items is the list of {cve_id}.
CREATE TABLE cve_allowlist (
    id SERIAL PRIMARY KEY,
    project_id int NOT NULL UNIQUE,
    expires_at bigint,
    items jsonb NOT NULL DEFAULT '[]',
    creation_time timestamptz NOT NULL DEFAULT now(),
    update_time timestamptz NOT NULL DEFAULT now()
);

-- One storage quota per project, found by reference and reference_id (the project's
-- id), with an id of its own, as Harbor's quota table.
CREATE TABLE quota (
    id SERIAL PRIMARY KEY,
    reference varchar(255) NOT NULL DEFAULT 'project',
    reference_id varchar(255) NOT NULL,
    hard jsonb NOT NULL,
    creation_time timestamptz NOT NULL DEFAULT now(),
    update_time timestamptz NOT NULL DEFAULT now()
);

-- name is the stored one: <name> (system level) or <project>+<name>.
CREATE TABLE robot (
    id SERIAL PRIMARY KEY,
    name varchar(255) NOT NULL UNIQUE,
    description varchar(1024) NOT NULL DEFAULT '',
    project_id int NOT NULL DEFAULT 0,
    level varchar(16) NOT NULL,
    duration int NOT NULL,
    expires_at bigint NOT NULL,
    disabled boolean NOT NULL DEFAULT false,
    secret varchar(128) NOT NULL,
    salt varchar(64) NOT NULL,
    permissions jsonb NOT NULL,
    creator_ref int NOT NULL DEFAULT 0,
    creation_time timestamptz NOT NULL DEFAULT now(),
    update_time timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE registry (
    id SERIAL PRIMARY KEY,
    name varchar(64) NOT NULL UNIQUE,
    url varchar(256) NOT NULL,
    type varchar(32) NOT NULL,
    insecure boolean NOT NULL DEFAULT false,
    description text NOT NULL DEFAULT '',
    credential_type varchar(16) NOT NULL DEFAULT '',
    access_key varchar(255) NOT NULL DEFAULT '',
    access_secret varchar(4096) NOT NULL DEFAULT '',
    creation_time timestamptz NOT NULL DEFAULT now(),
    update_time timestamptz NOT NULL DEFAULT now()
);

-- data: the policy as the API takes it (rules, trigger, scope, algorithm).
CREATE TABLE retention_policy (
    id SERIAL PRIMARY KEY,
    scope_level varchar(20) NOT NULL,
    scope_reference int NOT NULL,
    data jsonb NOT NULL,
    create_time timestamptz NOT NULL DEFAULT now(),
    update_time timestamptz NOT NULL DEFAULT now()
);

-- Schedules of periodic jobs, one per vendor: garbage collection, audit-log purge,
-- scan all.
CREATE TABLE schedule (
    id SERIAL PRIMARY KEY,
    vendor_type varchar(64) NOT NULL UNIQUE,
    cron varchar(64) NOT NULL,
    cron_type varchar(64) NOT NULL,
    extra_attrs jsonb NOT NULL,
    creation_time timestamptz NOT NULL DEFAULT now(),
    update_time timestamptz NOT NULL DEFAULT now()
);

-- System settings changed through /configurations (values JSON-encoded).
CREATE TABLE properties (
    id SERIAL PRIMARY KEY,
    k varchar(64) NOT NULL UNIQUE,
    v varchar(1024) NOT NULL
);

-- Immutable tag rules (Harbor's immutable_tag_rule): the rule as the API takes it,
-- unique per project and content; the switch in a column of its own.
CREATE TABLE immutable_tag_rule (
    id SERIAL PRIMARY KEY,
    project_id int NOT NULL REFERENCES project (project_id) ON DELETE CASCADE,
    tag_filter text NOT NULL,
    disabled boolean NOT NULL DEFAULT false,
    creation_time timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, tag_filter)
);

-- Webhook policies (Harbor's notification_policy): targets and event types as JSON.
CREATE TABLE notification_policy (
    id SERIAL PRIMARY KEY,
    name varchar(256) NOT NULL,
    project_id int NOT NULL REFERENCES project (project_id) ON DELETE CASCADE,
    enabled boolean NOT NULL DEFAULT true,
    description text NOT NULL DEFAULT '',
    targets jsonb NOT NULL,
    event_types jsonb NOT NULL,
    creator varchar(256) NOT NULL DEFAULT '',
    creation_time timestamptz NOT NULL DEFAULT now(),
    update_time timestamptz NOT NULL DEFAULT now(),
    UNIQUE (name, project_id)
);

-- Replication policies: the policy as the API stores it (filters and trigger as JSON).
CREATE TABLE replication_policy (
    id SERIAL PRIMARY KEY,
    name varchar(256) NOT NULL UNIQUE,
    data jsonb NOT NULL,
    src_registry_id int NOT NULL DEFAULT 0,
    dest_registry_id int NOT NULL DEFAULT 0,
    creation_time timestamptz NOT NULL DEFAULT now(),
    update_time timestamptz NOT NULL DEFAULT now()
);

-- Runs of background work (Harbor's execution and task): replication, by vendor.
CREATE TABLE execution (
    id SERIAL PRIMARY KEY,
    vendor_type varchar(64) NOT NULL,
    vendor_id int NOT NULL,
    status varchar(16) NOT NULL,
    status_message text NOT NULL DEFAULT '',
    trigger varchar(16) NOT NULL,
    start_time timestamptz NOT NULL DEFAULT now(),
    end_time timestamptz
);
CREATE TABLE task (
    id SERIAL PRIMARY KEY,
    execution_id int NOT NULL REFERENCES execution (id) ON DELETE CASCADE,
    status varchar(16) NOT NULL,
    extra_attrs jsonb NOT NULL,
    log text NOT NULL DEFAULT '',
    start_time timestamptz NOT NULL DEFAULT now(),
    end_time timestamptz
);

-- Scanner registrations (Harbor's scanner_registration).
CREATE TABLE scanner_registration (
    id SERIAL PRIMARY KEY,
    uuid varchar(64) NOT NULL UNIQUE,
    name varchar(256) NOT NULL UNIQUE,
    url varchar(256) NOT NULL UNIQUE,
    description text NOT NULL DEFAULT '',
    disabled boolean NOT NULL DEFAULT false,
    is_default boolean NOT NULL DEFAULT false,
    use_internal_addr boolean NOT NULL DEFAULT false,
    immutable boolean NOT NULL DEFAULT false,
    skip_cert_verify boolean NOT NULL DEFAULT false,
    auth varchar(16) NOT NULL DEFAULT '',
    access_cred varchar(512) NOT NULL DEFAULT '',
    create_time timestamptz NOT NULL DEFAULT now(),
    update_time timestamptz NOT NULL DEFAULT now()
);

-- The library project every Harbor starts with, public, owned by the admin.
INSERT INTO project (owner_id, name) VALUES (1, 'library');
INSERT INTO project_metadata (project_id, name, value) VALUES (1, 'public', 'true');
INSERT INTO project_member (project_id, entity_id, role) VALUES (1, 1, 1);
INSERT INTO quota (reference_id, hard) VALUES ('1', '{"storage": -1}');
-- Harbor's quota ids come from their own sequence and equal the projects' ids only
-- while every project got exactly one quota: the stand-in's run apart from the start,
-- so a client taking one for the other fails in the lab as it would on such a Harbor.
ALTER SEQUENCE quota_id_seq RESTART WITH 1001;
