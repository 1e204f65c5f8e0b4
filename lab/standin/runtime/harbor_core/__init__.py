"""Stand-in for harbor-core: a subset of REST API v2.0 and the registry token service,
on PostgreSQL and Redis like the real one (lab only, never shipped as Harbor).

Modules by concern: ``settings`` (the env file prepare writes), ``database`` (the
connection pool), ``migrations`` (golang-migrate's semantics), ``store`` (the
tables), ``cache`` (Redis), ``auth`` (callers, passwords, the token service),
``rules`` (Harbor's validation rules), ``api`` (routes by resource), ``http`` (the
request handler) and ``app`` (start-up and the server).
"""
