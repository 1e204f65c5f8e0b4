"""The Jenkins pipeline pushing a project's image as a robot account.

``render()`` fills ``templates/Jenkinsfile.j2``; ``render_shell()`` is its shell
part alone (``templates/ci_push.sh.j2``), runnable outside Jenkins with
HARBOR_USER/HARBOR_PASSWORD in the environment.
"""

import re

import jinja2

from harbor_deploy.lib import TEMPLATES

# Values end up inside single-quoted shell and Groovy strings: plain names only.
SAFE = re.compile(r"^[A-Za-z0-9._][A-Za-z0-9._:/-]*$")

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES)),
    autoescape=False,
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,
)


def _checked(**values):
    for key, value in values.items():
        if not SAFE.match(str(value)):
            raise ValueError(f"{key} {value!r}: only letters, digits and ._:/- are allowed")
    return values


def render_shell(registry, project, image, context="."):
    """The build/login/push/logout script for ``<registry>/<project>/<image>``."""
    return _env.get_template("ci_push.sh.j2").render(
        **_checked(registry=registry, project=project, image=image, context=context)
    )


def render(registry, project, image, credentials_id, context="."):
    """A Jenkinsfile whose credentials come from the Jenkins credential ``credentials_id``."""
    shell = render_shell(registry, project, image, context).rstrip("\n")
    return _env.get_template("Jenkinsfile.j2").render(
        shell=shell, **_checked(registry=registry, project=project, image=image, credentials_id=credentials_id)
    )
