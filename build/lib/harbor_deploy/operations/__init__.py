"""Custom pyinfra operations for harbor-deploy."""
