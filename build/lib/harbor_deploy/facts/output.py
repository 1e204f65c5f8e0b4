"""How the facts of this package lay out their output: ``key=value`` lines, and
sections after marker lines. One parser for all of them."""


def key_values(lines):
    """``{key: value}`` of the ``key=value`` lines (others are ignored; the first ``=``
    splits, so values may hold more)."""
    return dict(line.split("=", 1) for line in lines if "=" in line)


def split_at(lines, marker):
    """``(before, after)`` the first ``marker`` line; ``after`` is None without one."""
    if marker not in lines:
        return list(lines), None
    at = lines.index(marker)
    return lines[:at], lines[at + 1 :]
