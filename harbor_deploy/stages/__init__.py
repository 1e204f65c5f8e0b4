"""Named, reusable pyinfra ``@deploy`` stages composed by the packaged deploys
(``harbor_deploy.deploys``), which the entry files in ``deploys/`` run."""
