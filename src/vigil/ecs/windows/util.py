"""Small helpers shared by the Windows channel mappings."""

from __future__ import annotations

import re
from functools import lru_cache

# A run of backslashes ending in a quote, a run of blanks, or plain text (backslashes not followed
# by a quote are plain text). Scanning by token rather than by character keeps this fast.
_TOKEN = re.compile(r'(\\*)"|([ \t]+)|([^ \t"\\]+|\\+)')


def split_command_line(cmd: str) -> list[str]:
    """Split a Windows command line into arguments the way Elastic's ingest pipelines do.

    The Sysmon and Security pipelines use the same Painless port of Go's old
    ``CommandLineToArgv``: blanks are spaces and tabs, ``2n`` backslashes before a quote give
    ``n`` backslashes and toggle quoting, ``2n+1`` give ``n`` and a literal quote, and a doubled
    quote inside quotes is a literal quote that also ends the quoting (the "prior to 2008" rule).
    Backslashes elsewhere are literal. Only ASCII characters are special, so working on code
    points instead of UTF-16 units gives the same result.
    """
    if len(cmd) > _CACHED_UP_TO:
        # Long command lines (encoded PowerShell) rarely recur; hashing them for the cache
        # would cost more than splitting them.
        return list(_split_uncached(cmd))
    return list(_split(cmd))


_BLANKS = re.compile(r"[ \t]+")
_CACHED_UP_TO = 1024


@lru_cache(maxsize=2048)  # parent command lines especially recur; callers get a fresh list
def _split(cmd: str) -> tuple[str, ...]:
    return _split_uncached(cmd)


def _split_uncached(cmd: str) -> tuple[str, ...]:
    if '"' not in cmd:
        # Runs of blanks between arguments: str.split on one blank (C speed, unlike a regular
        # expression over a long encoded command) leaves empty strings where a run was longer.
        if "\t" in cmd:
            cmd = cmd.replace("\t", " ")
        return tuple(arg for arg in cmd.split(" ") if arg)
    if '\\"' not in cmd and '""' not in cmd:
        return _split_plain_quotes(cmd)
    return _split_by_token(cmd)


def _split_plain_quotes(cmd: str) -> tuple[str, ...]:
    """The usual quoted command line: no backslash before a quote and no two quotes in a row.

    Then every quote simply toggles quoting (and starts an argument), so the text between
    quotes alternates between outside (split at blanks) and inside (taken as it is).
    """
    args: list[str] = []
    current: list[str] = []
    in_arg = False
    for i, segment in enumerate(cmd.split('"')):
        if i & 1:  # inside quotes
            current.append(segment)
            in_arg = True
            continue
        if not segment:
            continue
        pieces = _BLANKS.split(segment)
        if len(pieces) == 1:
            current.append(segment)
            in_arg = True
            continue
        # The first piece ends the current argument, the middle ones are whole arguments and
        # the last one starts the next (each may be empty, at a blank on either end).
        if pieces[0]:
            current.append(pieces[0])
            in_arg = True
        if in_arg:
            args.append("".join(current))
        args.extend(pieces[1:-1])
        current = [pieces[-1]] if pieces[-1] else []
        in_arg = bool(pieces[-1])
    if in_arg:
        args.append("".join(current))
    return tuple(args)


def _split_by_token(cmd: str) -> tuple[str, ...]:
    args: list[str] = []
    buf: list[str] = []
    in_arg = in_quote = False
    pos, end = 0, len(cmd)
    while pos < end:
        m = _TOKEN.match(cmd, pos)
        if m is None:  # cannot happen: the alternatives cover every character
            break
        pos = m.end()
        slashes, blanks, text = m.groups()
        if blanks is not None:
            if in_quote:
                buf.append(blanks)
            elif in_arg:
                args.append("".join(buf))
                buf, in_arg = [], False
            continue
        in_arg = True
        if text is not None:
            buf.append(text)
            continue
        buf.append("\\" * (len(slashes) // 2))
        if len(slashes) % 2:
            buf.append('"')
            continue
        if in_quote and pos < end and cmd[pos] == '"':
            buf.append('"')
            pos += 1
        in_quote = not in_quote
    if in_arg:
        args.append("".join(buf))
    return tuple(args)
