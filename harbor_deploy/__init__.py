"""Controller-side library of the Harbor deploy.

defaults (inventory keys), validate, secrets, tls, installer (fetch + verify), harbor_yml.
"""
