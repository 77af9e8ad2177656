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
    return list(_split(cmd))


@lru_cache(maxsize=2048)  # parent command lines especially recur; callers get a fresh list
def _split(cmd: str) -> tuple[str, ...]:
    if '"' not in cmd:
        return tuple(arg for arg in re.split(r"[ \t]+", cmd) if arg)
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
