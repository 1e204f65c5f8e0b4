"""Jobs core hands to jobservice, and what jobservice calls back, where the nodes of
one Harbor show it.

- Core submits a job to its local jobservice (``JOBSERVICE_URL``) with
  ``Authorization: Harbor-Secret <CORE_SECRET>`` (src/common/job/client.go); jobservice
  queues it in Redis, which the nodes of one Harbor share (``runtime/jobservice.py``).
- A replication job reaches this Harbor's registry, the "Local" one, with the credential
  the queueing core put in it: that core's ``JOBSERVICE_SECRET`` (pkg/reg/manager.go
  ``getLocalRegistry``; flow/copy.go puts the resources, their registry and its
  credential, into the job's parameters). The core that gets the call accepts only its
  own ``JOBSERVICE_SECRET`` (lib/config/systemconfig.go ``initSecretStore``;
  server/middleware/security/secret.go), so a job queued by another node fails there
  unless both hold the same value.
- Stand-in only: the copy itself is core's code (``api.replication.run``), so the
  worker hands the job to its local core at ``RUN_PATH`` with that credential
  (``api.replication.run_job``); a refusal is reported through the job status hook,
  which Harbor serves unauthenticated (src/server/route.go
  ``/service/notifications/jobs/replication/:id``).
"""

import json
import urllib.error
import urllib.request

SECRET_PREFIX = "Harbor-Secret "  # src/common/secret/request.go HeaderPrefix
REPLICATION = "REPLICATION"  # job.ReplicationVendorType
RUN_PATH = "/service/standin/jobs/replication"
HOOK_PATH = "/service/notifications/jobs/replication/{}"


class SubmitError(Exception):
    """Jobservice did not take the job."""


def secret_of(header):
    """The secret of an ``Authorization: Harbor-Secret <secret>`` header, or ""."""
    header = header or ""
    return header[len(SECRET_PREFIX) :] if header.startswith(SECRET_PREFIX) else ""


def submit(app, name, parameters):
    """The job handed to this node's jobservice (``POST /api/v1/jobs``), as core's job
    client does it; raises SubmitError when jobservice refuses it or does not answer."""
    body = json.dumps({"job": {"name": name, "parameters": parameters, "metadata": {"kind": "Generic"}}}).encode()
    request = urllib.request.Request(
        f"{app.settings.jobservice_url}/api/v1/jobs",
        data=body,
        headers={"Content-Type": "application/json", "Authorization": SECRET_PREFIX + app.settings.core_secret},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()
    except (urllib.error.URLError, OSError) as error:
        raise SubmitError(f"failed to submit the job to jobservice: {error}") from None


def local_credential(app):
    """The "Local" registry's credential a job carries: this core's JOBSERVICE_SECRET."""
    return {"type": "secret", "access_key": "", "access_secret": app.settings.jobservice_secret}
