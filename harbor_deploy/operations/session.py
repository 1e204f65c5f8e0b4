"""
The session a run's commands on a host belong to, in shell: what the deploy lock
lasts as long as (``deploy_lock``), and what ends the life of the files a run leaves
on a host only while it runs (``when_session_ends``).

A run's session is the SSH session serving it: the first ``sshd*`` ancestor of its
shell (sudo, su and shells sit between). A run without one (pyinfra's ``@local``
connector, an SSH server of another name) names its session in ``SESSION_ENV``: the
PID of a process that lives exactly as long as the run, e.g.
``sh -c 'HARBOR_DEPLOY_SESSION=$$ exec pyinfra @local ...'``. A process is named by
its PID and its start time together: PIDs are reused.
"""

SESSION_ENV = "HARBOR_DEPLOY_SESSION"
# How often a watcher looks whether its session has ended, in seconds.
WATCH_SECONDS = 2

# Sets $3 to field $2 of /proc/<$1>/stat counted after the command name (which may
# hold blanks and parentheses): 2 is the parent's PID, 20 the start time; empty for
# no such process. Builtins only (``read``): many runs may take the lock at once.
FIELD = (
    'field() { n=$2; v=$3; eval "$v="; read -r stat 2>/dev/null < /proc/"$1"/stat || return 0; '
    'set -- ${stat##*") "}; eval "$v=\\${$n}"; }'
)
# Sets $session and $started: the run's session and when it started (both empty when
# it cannot be told). Needs FIELD.
SESSION = (
    'session=; p=$$; while [ "${p:-0}" -gt 1 ]; do comm=; read -r comm 2>/dev/null < /proc/$p/comm; '
    'case "$comm" in sshd*) session=$p; break;; esac; field $p 2 p; done; '
    f'[ -n "$session" ] || session=${{{SESSION_ENV}:-}}; started=; '
    'case "$session" in ""|*[!0-9]*) ;; *) field "$session" 20 started;; esac'
)


def when_session_ends(command):
    """Shell starting ``command`` in the background once this run's session has ended,
    however it ended (the run finished, was killed, or lost its connection); nothing
    when the session cannot be told. For files that must not outlive the run (a
    secret staged on its way): a later run only stages after taking the deploy lock,
    which is free only once this session has gone and that run has read the host, far
    longer than the watcher takes to notice."""
    return (
        f"{{ {FIELD}; {SESSION}; "
        'if [ -n "$started" ]; then ( trap "" HUP INT; '
        f'while field "$session" 20 now; [ "$now" = "$started" ]; do sleep {WATCH_SECONDS}; done; {command} ) '
        "</dev/null >/dev/null 2>&1 & fi; }"
    )
