"""Core's start-up, in Harbor's order, and its HTTP server.

1. Redis answers (``initializing cache ...``), else core exits.
2. The database's port answers (``Registering database``), else core exits.
3. The release's schema migrations run (see ``migrations``); a dirty database, one
   newer than the release, or a failing migration make core exit, logging what
   golang-migrate said, as Harbor's core does (``failed to migrate the database``).
4. The admin password is seeded (first start only), Trivy registered as the default
   scanner when installed with it, and the API is served on :8080.
"""

import datetime
import os
import secrets
import signal
import sys
import threading

from apispec import ApiSpec
from go_listener import GoHTTPServer

from harbor_core import api, auth, cache, directory, migrations, trust
from harbor_core.database import Database
from harbor_core.errors import forbidden, not_found, unauthorized
from harbor_core.http import make_handler
from harbor_core.settings import Settings
from harbor_core.store import Store


class StartupError(Exception):
    """Why core cannot serve (logged as Harbor's FATAL line, then core exits)."""


def log(level, message):
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    print(f"{stamp} [{level}] [/core/main.go]: {message}", flush=True)


class App:
    """Everything a request handler needs: settings, the API contract, the store,
    Redis and the token service."""

    def __init__(self, settings):
        self.settings = settings
        self.spec = ApiSpec.load()
        self.database = Database(settings.database)
        self.store = Store(self.database)
        self.redis = cache.client(settings.redis_url)
        self.configurations = cache.ConfigurationCache(self.redis)
        self.tokens = auth.TokenService(settings.token_key_path, settings.token_minutes)
        self.login_lock = auth.LoginLock()
        # No CSRF_KEY: a random one, as the CSRF middleware draws it.
        self.csrf_key = settings.csrf_key or secrets.token_hex(16)
        # Threads doing work in the background (webhook deliveries, replications).
        self.background = []

    def start(self):
        """Steps 1-4 of the module's doc; raises StartupError."""
        log("INFO", "initializing cache ...")
        try:
            cache.wait_until_answering(self.redis, self.settings.startup_timeout, lambda text: log("ERROR", text))
        except Exception as error:  # noqa: BLE001 - any failure to reach Redis stops core
            raise StartupError(f"failed to initialize cache: {error}") from None
        database = self.settings.database
        log(
            "INFO",
            f"Registering database: type-PostgreSQL host-{database.host} port-{database.port} "
            f'database-{database.name} sslmode-"{database.sslmode}"',
        )
        try:
            self.database.wait_for_server(self.settings.startup_timeout)
            connection = self.database.connect(autocommit=True)
        except Exception as error:  # noqa: BLE001 - any failure to reach the database stops core
            raise StartupError(f"failed to initialize database: {error}") from None
        log("INFO", "Register database completed")
        try:
            self.migrate(connection)
        finally:
            connection.close()
        self.store.set_initial_admin_password(self.settings.admin_password)
        api.scanners.register_trivy(self)

    def migrate(self, connection):
        migrator = migrations.Migrator(
            connection,
            self.settings.database.name,
            self.settings.migrations_dir,
            fail_version=migrations.failing_version(self.settings.data_dir),
            log=lambda text: log("INFO", text),
        )
        log("INFO", "Upgrading schema for pgsql ...")
        try:
            migrator.up()
        except migrations.NoChange:
            log("INFO", "No change in schema, skip.")
        except migrations.MigrationError as error:
            log("ERROR", f'Failed to upgrade schema, error: "{error}"')
            raise StartupError(f"failed to migrate the database, error: {error}") from None
        log("INFO", "The database has been migrated successfully")

    # --- what several resources use ------------------------------------------------

    def in_background(self, target, *args):
        """Run ``target(*args)`` in a thread of its own (Harbor's jobservice runs such
        work: webhook deliveries, replications); the threads still running are kept."""
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self.background = [running for running in self.background if running.is_alive()] + [thread]

    def configuration(self, key):
        stored = self.configurations.load(self.store.properties)
        return stored.get(key, api.configurations.default(key))

    def save_configurations(self, settings):
        self.store.save_properties(settings)
        self.configurations.invalidate()

    def authenticate(self, header):
        login = self.directory_login if self.configuration("auth_mode") == "ldap_auth" else None
        return auth.authenticate(self.store, self.configuration("robot_name_prefix"), header, self.login_lock, login)

    def directory_login(self, username, password):
        """An LDAP user's login (core/auth/ldap/ldap.go): checked by the LDAP server, then
        onboarded on its first login ("from LDAP.", a password never used) or its email
        kept in step, with the LDAP groups it belongs to onboarded and attached."""
        settings = api.configurations.stored_values(self)
        found = directory.login(settings, username, password)
        if found is None:
            return None
        user = self.store.user(username=found["username"])
        if user is None:
            # OnBoardUser: the username as email when it looks like one.
            email = found["email"] or (found["username"] if "@" in found["username"] else "")
            self.store.onboard_user(found["username"], email, found["realname"], "from LDAP.", "12345678AbC")
            user = self.store.user(username=found["username"])
        group_ids = [self.store.onboard_ldap_group(name, dn) for name, dn in found["groups"]]
        return auth.Principal(user={**user, "admin_role_in_auth": found["admin_role_in_auth"]}, group_ids=group_ids)

    def find_project(self, key, by_name_header, principal):
        """A project the caller may see, by id or name (names win when the header says so)."""
        by_name = by_name_header or not str(key).isdigit()
        project = self.store.project(key, by_name=by_name)
        if not project:
            raise not_found(f"project {key} not found")
        if not api.projects.visible(project, principal):
            raise unauthorized() if not principal.authenticated else forbidden()
        return project


def make_server(app, host="0.0.0.0", port=8080):
    server = GoHTTPServer((host, port), make_handler(app, api.ROUTES))
    server.daemon_threads = True
    return server


def main():
    # As PID 1 python ignores SIGTERM: exit on it, so `docker stop` needs no 10s kill timeout.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    trust.install()  # as the image's entrypoint runs install_cert.sh first
    app = App(Settings())
    try:
        app.start()
    except StartupError as error:
        log("FATAL", str(error))
        sys.exit(1)
    server = make_server(app, port=int(os.environ.get("CORE_PORT", "8080")))
    log("INFO", f"harbor-core stand-in listening on :{server.server_address[1]}")
    server.serve_forever()
