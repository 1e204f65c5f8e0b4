"""The pure library below every deploy layer: data keys and validation, secrets, TLS,
harbor.yml rendering, the installer, Harbor's REST API client and its resources.
It imports no stage, operation or fact."""

from pathlib import Path

# The package's templates (harbor.yml, the systemd unit, the Jenkins pipeline).
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
