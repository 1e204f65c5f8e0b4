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


SECTION_MARKER = "--- section "


def sections_command(commands):
    """One shell script running each ``{name: command}`` in a subshell after a marker
    line, so one round trip answers what several facts ask. The marker starts on a
    line of its own even after an output without a final newline."""
    parts = [f"printf '\\n{SECTION_MARKER}{name}\\n'; ( {command} ) 2>/dev/null;" for name, command in commands.items()]
    return " ".join([*parts, "true"])  # a failing section is its own business


def split_sections(lines):
    """``{name: lines}`` of a ``sections_command`` output."""
    sections, current = {}, None
    for line in lines:
        if line.startswith(SECTION_MARKER):
            if current and current[-1] == "":
                current.pop()  # the newline printed before the marker
            current = sections.setdefault(line[len(SECTION_MARKER) :], [])
        elif current is not None:
            current.append(line)
    return sections


def processed_sections(lines, facts):
    """Each section processed by its fact (``{name: fact}``), as pyinfra would: an empty
    output gives the fact's default."""
    sections = split_sections(lines)
    return {
        name: fact.process(sections[name]) if sections.get(name) else fact.default() for name, fact in facts.items()
    }
