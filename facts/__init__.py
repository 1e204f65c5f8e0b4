"""Custom pyinfra facts for harbor-deploy (one remote round trip each)."""
