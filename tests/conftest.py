import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The repo root is the import root for deploys (pyinfra adds cwd the same way).
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
