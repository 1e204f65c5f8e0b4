"""Named, reusable pyinfra ``@deploy`` stages composed by the entry files in ``deploys/``."""
