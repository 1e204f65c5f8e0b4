"""The admin account: moved off harbor.yml's seed to a managed password."""

from harbor_deploy.lib.config.secrets import (
    INITIAL_ADMIN_PASSWORD,
    MANAGED_ADMIN_PASSWORD,
    MANAGED_ADMIN_PASSWORD_ENV,
    admin_passwords,
    generate_password,
    meets_harbor_password_rule,
)
from harbor_deploy.lib.harbor_api.client import AuthenticationError
from harbor_deploy.lib.harbor_api.resources.common import Change, ResourceError


class AdminAccess:
    """Admin clients of one Harbor instance, with whichever admin password works.

    The initial password is the one harbor.yml seeded (secret ``admin_password``);
    the managed one (env HARBOR_ADMIN_MANAGED_PASSWORD, else the file
    ``admin_password_managed``, generated at rotation) is the one Harbor keeps after
    configure rotated it, so harbor.yml on the server no longer opens the admin account.
    """

    def __init__(self, anonymous, store, rotate=True):
        self.anonymous, self.store, self.rotate = anonymous, store, rotate

    def __repr__(self):
        return f"AdminAccess({self.anonymous.base_url!r})"

    def managed(self):
        return self.store.read(MANAGED_ADMIN_PASSWORD, MANAGED_ADMIN_PASSWORD_ENV)

    def initial(self):
        return self.store.get(INITIAL_ADMIN_PASSWORD)

    def client(self):
        """An admin client; raises ``AuthenticationError`` when no known password works."""
        sources = []
        for password in admin_passwords(self.store, self.rotate):
            client = self.anonymous.with_credentials("admin", password)
            if client.authenticates():
                return client
            sources.append(password.source)
        raise AuthenticationError(
            "GET", "admin account", 401, f"no admin password is accepted (tried {', '.join(sources)})"
        )

    def plan_rotation(self):
        """The rotation to the managed password, when Harbor still has the initial one."""
        if not self.rotate:
            return []
        managed = self.managed()
        if managed is not None and self.anonymous.with_credentials("admin", managed).authenticates():
            return []
        initial = self.initial()
        if not self.anonymous.with_credentials("admin", initial).authenticates():
            # Neither works: client() reports it with the sources tried.
            self.client()
        return [Change("rotate", "admin", "password", apply=lambda: self._rotate(initial))]

    def _rotate(self, initial):
        managed = self.managed()
        if managed is None:
            # Stored before Harbor has it: a failed PUT leaves a value the next run retries with.
            self.store.store(MANAGED_ADMIN_PASSWORD, generate_password())
            managed = self.managed()
        if not meets_harbor_password_rule(managed.reveal()):
            raise ResourceError(
                f"the managed admin password ({managed.source}) must be 8-128 "
                "characters with a lowercase letter, an uppercase letter and a digit"
            )
        client = self.anonymous.with_credentials("admin", initial)
        user_id = client.current_user()["user_id"]
        client.put(
            f"/users/{user_id}/password",
            "admin password",
            {"old_password": initial.reveal(), "new_password": managed.reveal()},
        )
        self.store.store(MANAGED_ADMIN_PASSWORD, managed)
