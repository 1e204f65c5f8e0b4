"""Harbor's validation rules for names, passwords, profiles, crons, URLs and quotas."""

import re
import secrets
import string
from urllib.parse import urlsplit

from harbor_core.errors import bad_request

NAME_PATTERN = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
ROBOT_SECRET_RULE = (
    "the secret must be 8-128, inclusively, characters long with at least "
    "1 uppercase letter, 1 lowercase letter and 1 number"
)
PASSWORD_RULE = (
    "the password or secret must be 8-128, inclusively, characters long with at least "
    "1 uppercase letter, 1 lowercase letter and 1 number"
)
# common.IllegalCharsInUsername, refused in usernames and real names.
ILLEGAL_NAME_CHARS = ',"~#%$'
# Harbor's email pattern (src/server/v2.0/handler/user.go).
EMAIL_PATTERN = re.compile(
    r'^(([^<>()[\]\\.,;:\s@"]+(\.[^<>()[\]\\.,;:\s@"]+)*)|(".+"))@'
    r"((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\])|(([a-zA-Z\-0-9]+\.)+[a-zA-Z]{2,}))$"
)


def strong_password(password):
    """Harbor's rule: 8-128 chars with an upper case letter, a lower case letter and a digit."""
    return (
        isinstance(password, str)
        and 8 <= len(password) <= 128
        and re.search(r"[A-Z]", password)
        and re.search(r"[a-z]", password)
        and re.search(r"[0-9]", password)
    )


def generate_secret():
    alphabet = string.ascii_letters + string.digits
    while True:
        secret = "".join(secrets.choice(alphabet) for _ in range(32))
        if strong_password(secret):
            return secret


def cron_problem(cron):
    """``utils.ValidateCronString``: why ``cron`` is refused, or None. robfig/cron with
    seconds: exactly 6 fields; and the seconds field must be 0."""
    if not cron:
        return "empty cron string is invalid"
    fields = cron.split()
    if len(fields) != 6:
        return f"expected exactly 6 fields, found {len(fields)}: [{cron}]"
    field = re.compile(
        r"^(\*|\?|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?(,(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?)*$"
    )
    if not all(field.match(part) for part in fields):
        return f"failed to parse cron: {cron}"
    parts = cron.split(" ")
    if len(parts) == 6 and parts[0] != "0":
        return "the 1st field (indicating Seconds of time) of the cron setting must be 0"
    return None


def normalised_url(text):
    """``lib.ValidateHTTPURL``: trimmed, http:// when no scheme, ``scheme://host/path``."""
    text = (text or "").strip(" ").rstrip("/")
    if not text:
        raise bad_request("empty string")
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        raise bad_request(f"invalid HTTP scheme: {parts.scheme}")
    if not parts.netloc:
        raise bad_request(f"invalid URL: {text}")
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


# types.MaxLimitedValue (src/pkg/quota/types/resources.go): 1024 TB.
MAX_STORAGE_LIMIT = 1125899906842624


def checked_storage_limit(value):
    """``quota.Validate`` (src/lib/quota_storage_limit.go): a storage limit is -1, or a
    number of bytes from 1 to 1024 TB."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise bad_request("invalid value for resource storage")
    if value <= 0 and value != -1:
        raise bad_request(f"invalid non-positive value for quota limit, value={value}")
    if value > MAX_STORAGE_LIMIT:
        raise bad_request(f"exceeded 1024TB, which is {MAX_STORAGE_LIMIT} Bytes, value={value}")
    return value


def checked_profile(body):
    """``validateUserProfile``: email required and well formed, realname 1-255 bytes
    without illegal characters, comment at most 30 bytes; returns the three fields."""
    email, realname, comment = (str(body.get(key) or "") for key in ("email", "realname", "comment"))
    if not email:
        raise bad_request("email can't be empty")
    if not EMAIL_PATTERN.match(email):
        raise bad_request("email with illegal format")
    if not 1 <= len(realname.encode()) <= 255:
        raise bad_request("realname with illegal length")
    if any(char in realname for char in ILLEGAL_NAME_CHARS):
        raise bad_request("realname contains illegal characters")
    if len(comment.encode()) > 30:
        raise bad_request("comment with illegal length")
    return {"email": email, "realname": realname, "comment": comment}


def checked_duration(duration):
    """A robot's duration in days: -1 (never expires) or positive."""
    if not isinstance(duration, int) or isinstance(duration, bool) or duration == 0 or duration < -1:
        raise bad_request(
            f"bad request error duration input: {duration or 0}, duration must be "
            "either -1(Never) or a positive integer"
        )
    return duration
