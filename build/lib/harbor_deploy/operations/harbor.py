"""
Operations on a running Harbor compose project.
"""

import shlex

from pyinfra.api import StringCommand, operation

from harbor_deploy.facts.harbor import COMPOSE_PROJECT

# Polls docker's health of every Harbor container and Harbor's own health API;
# on timeout prints what is unhealthy and the tail of its log, then fails.
WAIT_SCRIPT = """
logdir={log_dir}
health='{{{{if .State.Health}}}}{{{{.State.Health.Status}}}}{{{{else}}}}none{{{{end}}}}'
format="{{{{.Name}}}} {{{{.State.Status}}}} $health"
deadline=$(( $(date +%s) + {timeout} ))
while :; do
  ids=$(docker ps -aq --filter label=com.docker.compose.project={project})
  states=$(docker inspect --format "$format" $ids 2>/dev/null | sed 's#^/##')
  bad=$(echo "$states" | awk '$2 != "running" || ($3 != "healthy" && $3 != "none")')
  api=$(curl -sk --max-time 5 {url}/api/v2.0/health || true)
  if [ -n "$ids" ] && [ -z "$bad" ] && echo "$api" | grep -Eq '^\\{{"status": ?"healthy"'; then
    exit 0
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "Harbor not healthy after {timeout}s"
    echo "unhealthy containers:"; echo "${{bad:-none (all containers healthy)}}"
    echo "health API: ${{api:-no answer}}"
    for name in $(echo "$bad" | cut -d' ' -f1); do
      service=$(docker inspect --format '{{{{index .Config.Labels "com.docker.compose.service"}}}}' "$name")
      echo "--- last lines of $logdir/$service.log"; tail -n 20 "$logdir/$service.log" 2>/dev/null
    done
    exit 1
  fi
  sleep 3
done
"""


@operation(is_idempotent=False)
def wait_healthy(url, timeout=300, log_dir="/var/log/harbor"):
    """
    Wait until every container of Harbor's compose project runs healthy and
    ``/api/v2.0/health`` answers ``healthy``; fail after ``timeout`` seconds with the
    unhealthy containers, the health answer and the tail of their logs.

    + url: Harbor's base URL as seen from the server (e.g. ``https://127.0.0.1:8443``)
    + timeout: seconds to wait
    + log_dir: Harbor's ``log.local.location`` (where each service's log is)

    **Example:**

    .. code:: python

        harbor.wait_healthy(
            name="Wait until Harbor is healthy",
            url="https://127.0.0.1:8443",
            _if=install.did_change,
        )
    """
    script = WAIT_SCRIPT.format(
        timeout=int(timeout),
        project=COMPOSE_PROJECT,
        url=shlex.quote(url.rstrip("/")),
        log_dir=shlex.quote(log_dir.rstrip("/")),
    )
    yield StringCommand("bash", "-c", shlex.quote(script))
