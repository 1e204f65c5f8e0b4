"""Named, reusable pyinfra ``@deploy`` stages composed by the entry files in ``deploys/``.

Importing them makes a sudo password travel to hosts without ever appearing on a
remote command line (``sudo_askpass``).
"""

from harbor_deploy.stages import sudo_askpass  # noqa: F401
