"""How Harbor v2.13.1's own programs read the values the deploy gives them.

Each ``*_problem(value)`` says why ``value`` would not reach its reader exactly as
written, or None; validation names the key and quotes the reason, never the value.
The readers, and where each rule comes from:

- docker compose reading the env files prepare writes (``KEY=value``, unquoted;
  ../shared/harbor/FACTS.md "How harbor.yml values reach the services");
- YAML written unquoted after ``key:`` by prepare into the registry's config.yml
  (make/photon/prepare/utils/registry.py ``get_storage_provider_info`` and the
  Redis password of templates/registry/config.yml.jinja), read by a YAML 1.1
  parser and, for the storage driver's settings, resolved by Go's gopkg.in/yaml.v2
  into untyped values (distribution's ``storage.Parameters``);
- the PostgreSQL connection string core, jobservice and exporter build without
  quoting, ``host=%s port=%s user=%s password=%s dbname=%s sslmode=%s``
  (src/common/dao/pgsql.go), read by pgx's keyword/value parser (pgconn, libpq's
  rules);
- Go's ``time.ParseDuration``, where Harbor wants a duration.
"""

import re

import yaml

# --- env files as docker compose reads them ----------------------------------------

ENV_FILE_RULES = (
    (lambda v: "\n" in v or "\r" in v, "contains a line break, which ends the value in Harbor's env files"),
    (lambda v: "\x00" in v, "contains a NUL character, which no environment variable can hold"),
    (
        lambda v: "$" in v,
        "contains '$': docker compose expands $NAME in Harbor's env files, so Harbor "
        "would get another value (goharbor/harbor#16372)",
    ),
    (
        lambda v: re.search(r"\s#", v),
        "contains a blank followed by '#': docker compose drops the rest of the line as a comment",
    ),
    (
        lambda v: v[:1] in ("'", '"'),
        "starts with a quote: docker compose strips surrounding quotes, or "
        "refuses an unmatched one and Harbor does not start",
    ),
    (lambda v: v != v.strip(), "starts or ends with a blank, which docker compose trims"),
)


def env_file_problem(value):
    """Why ``value`` would not reach Harbor unchanged through an env file, or None."""
    if not isinstance(value, str) or not value:
        return "is empty"
    return next((why for rule, why in ENV_FILE_RULES if rule(value)), None)


# --- the PostgreSQL connection string ---------------------------------------------------

# pgconn's asciiSpace and libpq's isspace(): a blank ends an unquoted value.
CONNINFO_BLANKS = " \t\n\v\f\r"


def conninfo_problem(value):
    """Why ``value``, put unquoted into Harbor's ``key=value`` connection string, would
    not be read back as it is by pgx (pgconn's parseDSNSettings) and libpq
    (conninfo_parse), or None. Both read an unquoted value up to the first blank, take
    a backslash as an escape of the next character (pgx turns ``\\\\`` into ``\\`` and
    ``\\'`` into ``'``, libpq drops every escaping backslash; one at the end escapes the
    blank before ``dbname=`` and swallows it) and read a value that starts with a
    single quote as a quoted one."""
    if not isinstance(value, str) or not value:
        return "is empty"
    if any(char in CONNINFO_BLANKS for char in value):
        return (
            "contains a blank (space, tab or line break): Harbor puts it unquoted into its "
            "database connection string (host=... password=... dbname=...), where a blank ends the value"
        )
    if "\\" in value:
        return (
            "contains a backslash: Harbor's database connection string (unquoted) reads it as "
            "an escape of the next character, so the database gets another value"
        )
    if value.startswith("'"):
        return (
            "starts with a single quote: Harbor's database connection string (unquoted) reads "
            "it as the start of a quoted value"
        )
    return None


# --- YAML written raw into the registry's config.yml ------------------------------------


def raw_yaml_problem(value):
    """Why ``value``, written unquoted after ``key:`` (as prepare writes the registry's
    config.yml), would not be read back as the same text by a YAML 1.1 parser, or None."""
    if not isinstance(value, str):
        return None
    if "\n" in value or "\r" in value:
        return "contains a line break, which breaks the registry's config.yml"
    try:
        read = yaml.safe_load(f"key: {value}\n")
    except yaml.YAMLError:
        read = None
    if read != {"key": value}:
        return (
            "is not plain YAML text (e.g. starts with one of * & ! | > % @ ` [ { or holds ': ' or "
            "' #', or reads as a number, a boolean or null): prepare writes it unquoted into the "
            "registry's config.yml, which would break or read it differently"
        )
    return None


# gopkg.in/yaml.v2's resolve table (resolve.go): plain scalars it reads as booleans,
# null or special floats, whatever PyYAML makes of them.
GO_YAML_WORDS = frozenset(
    "y Y yes Yes YES n N no No NO true True TRUE false False FALSE on On ON off Off OFF "
    "~ null Null NULL .nan .NaN .NAN .inf .Inf .INF +.inf +.Inf +.INF -.inf -.Inf -.INF <<".split()
)
# Its yamlStyleFloat, and the numbers strconv.ParseInt/ParseUint(s, 0, 64) take once
# yaml.v2 removed every "_": 0x, 0o, 0b prefixes and a leading 0 for octal.
GO_YAML_FLOAT_RE = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
GO_INT_RE = re.compile(r"[-+]?(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)")
# Its parseTimestamp: four digits and "-" first, then one of Go's date layouts.
GO_YAML_TIMESTAMP_RE = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt ].*)?")


def go_yaml_reads_a_string(value):
    """Whether yaml.v2 resolves the plain scalar ``value`` to a string (not to a
    boolean, null, a number or a timestamp)."""
    if value in GO_YAML_WORDS or value == "":
        return False
    if value[0] not in "0123456789+-.":
        return True
    plain = value.replace("_", "")
    return not (
        GO_YAML_TIMESTAMP_RE.fullmatch(value) or GO_INT_RE.fullmatch(plain) or GO_YAML_FLOAT_RE.fullmatch(plain)
    )


def go_yaml_problem(value):
    """Why the storage driver setting ``value`` (written raw by prepare) would not
    reach the registry's driver as the same string, or None."""
    why = raw_yaml_problem(value)
    if why or not isinstance(value, str):
        return why
    if not go_yaml_reads_a_string(value):
        return (
            "reads as a number, a boolean, null or a date in the registry's config.yml (Go's YAML "
            "reads 1e3, 0o17, 0x1f, y, n, on, off that way), where prepare writes it unquoted: give "
            "a number as a number, a boolean as true or false"
        )
    return None


# --- Go durations --------------------------------------------------------------------------

# time.ParseDuration: a signed sequence of decimal numbers, each with an optional
# fraction and a unit; "0" is the only value without a unit.
GO_DURATION_RE = re.compile(r"[-+]?(0|(([0-9]+\.?[0-9]*|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)")


def is_go_duration(value):
    return isinstance(value, str) and GO_DURATION_RE.fullmatch(value) is not None
