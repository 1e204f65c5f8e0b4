"""Harbor's doublestar patterns (github.com/bmatcuk/doublestar ``Match``: ``*`` and
``?`` within one path component, ``**`` across them, ``[...]`` classes, ``{a,b}``
alternatives) and the selectors built on them (src/lib/selector/selectors/doublestar:
``matches``/``excludes`` for tags, ``repoMatches``/``repoExcludes`` for repositories)."""

import functools
import re

MATCHING = ("matches", "repoMatches", "nsMatches")
EXCLUDING = ("excludes", "repoExcludes", "nsExcludes")


@functools.cache
def _regex(pattern):
    out, index = [], 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**", index):
            # "**/" also matches no directory at all.
            if pattern.startswith("**/", index):
                out.append("(?:.*/)?")
                index += 3
            else:
                out.append(".*")
                index += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", index + 1)
            if end < 0:
                out.append(re.escape(char))
            else:
                body = pattern[index + 1 : end]
                body = "^" + body[1:] if body.startswith("!") else body
                out.append(f"[{body}]")
                index = end
        elif char == "{":
            end = pattern.find("}", index + 1)
            if end < 0:
                out.append(re.escape(char))
            else:
                options = pattern[index + 1 : end].split(",")
                out.append("(?:" + "|".join(_regex(option).pattern[1:-1] for option in options) + ")")
                index = end
        elif char == "\\" and index + 1 < len(pattern):
            index += 1
            out.append(re.escape(pattern[index]))
        else:
            out.append(re.escape(char))
        index += 1
    return re.compile("^" + "".join(out) + "$")


def match(pattern, value):
    """``util.Match``: an empty pattern matches everything."""
    return not pattern or bool(_regex(pattern).match(value))


def selected(selector, value):
    """Whether a doublestar selector (``{decoration, pattern}``) takes ``value``."""
    matched = match(selector.get("pattern", ""), value)
    return not matched if selector.get("decoration") in EXCLUDING else matched
