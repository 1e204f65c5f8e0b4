"""harbor-core stand-in: ``python3 core.py`` starts it (see harbor_core/app.py), configured
by the environment common/config/core/env sets."""

from harbor_core.app import main

if __name__ == "__main__":
    main()
