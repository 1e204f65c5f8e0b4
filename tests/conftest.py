# pyinfra's CLI package (which pyinfra-testing imports) monkey-patches the standard
# library with gevent on import; patched after ssl was imported, in-process TLS
# calls (requests) recurse forever. Patch first, as the pyinfra CLI itself does.
from gevent import monkey

monkey.patch_all()

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# The repo root is the import root for deploys (pyinfra adds cwd the same way).
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
# Captured fact outputs and pyinfra-testing operation specs.
FIXTURES = ROOT / "tests" / "fixtures"
