"""File rules, and the file stages of sequences."""

from __future__ import annotations

import random
from collections.abc import Sequence

from ..eql import condition, negate, render_event_query
from ..settings import WIN
from ..vocab.files import LINUX_FILE_THEMES, WINDOWS_FILE_THEMES, FileTheme
from .common import Built, actor_clause, os_clause, pick, with_hot


def _file_type_clause(rng: random.Random, types: Sequence[str]) -> str:
    chosen = pick(rng, types, 1, len(types))
    if rng.random() < 0.2 and chosen == ["creation"]:
        return 'event.action : ("creation", "File created*")'
    return condition(rng, "event.type", chosen)


def file_clauses(
    rng: random.Random, theme: FileTheme, hot: bool, *, stage: bool = False
) -> tuple[list[str], str]:
    """The clauses of a file rule (or stage) of ``theme``; see :func:`.process.process_clauses`."""
    clauses: list[str] = []
    anchor = rng.choice(theme.anchors) if hot and theme.anchors else None
    if anchor is not None:
        clauses.append(_file_type_clause(rng, [rng.choice(anchor.types)]))
        shape = rng.random()
        if shape < 0.5 or not anchor.ext:
            clauses.append(condition(rng, "file.path", with_hot(rng, anchor.path, theme.paths, (0, 3))))
            if anchor.name != "*" + "." + anchor.ext and rng.random() < 0.5:
                clauses.append(condition(rng, "file.name", with_hot(rng, anchor.name, theme.names, (0, 2))))
        elif shape < 0.8:
            clauses.append(condition(rng, "file.extension", with_hot(rng, anchor.ext, theme.exts, (0, 4))))
            clauses.append(condition(rng, "file.path", [anchor.path]))
        else:
            clauses.append(condition(rng, "file.name", with_hot(rng, anchor.name, theme.names, (0, 3))))
        # The process behind the event keeps a hot rule selective (gen_ecs picks it among the
        # live processes of the host).
        clauses.append(actor_clause(rng, True))
        qualifier = f" ({anchor.ext} Files)" if anchor.ext else f" ({anchor.name})"
    else:
        clauses.append(_file_type_clause(rng, ("creation", "change", "deletion")))
        options = rng.sample(("path", "name", "ext"), rng.randint(1, 2))
        for kind in options:
            if kind == "path":
                clauses.append(condition(rng, "file.path", pick(rng, theme.paths, 1, 4)))
            elif kind == "name":
                clauses.append(condition(rng, "file.name", pick(rng, theme.names, 1, 4)))
            elif theme.exts != ("",):
                clauses.append(condition(rng, "file.extension", pick(rng, theme.exts, 1, 5)))
        if len(options) == 1 or rng.random() < 0.3:
            clauses.append(actor_clause(rng, False, theme.os))
        if theme.os == WIN and rng.random() < 0.1:
            clauses.append(
                rng.choice(
                    ('?file.Ext.header_bytes : "4d5a*"', "?file.size >= 30000", "?file.Ext.entropy >= 7")
                )
            )
        qualifier = f" ({theme.exts[0]} Files)" if theme.exts[0] else f" ({theme.names[0]})"
    if not stage and theme.os == WIN and rng.random() < 0.5:
        clauses.append(
            negate(
                condition(
                    rng,
                    "process.executable",
                    pick(
                        rng,
                        (
                            "?:\\Program Files\\Contoso Backup\\*",
                            "?:\\Windows\\System32\\Vendor\\*",
                            "?:\\Program Files (x86)\\Example Sync\\*.exe",
                        ),
                        1,
                        2,
                    ),
                )
            )
        )
    return clauses, qualifier


def build_file(rng: random.Random, hot: bool, os_name: str) -> Built:
    """A single-event file rule."""
    themes = WINDOWS_FILE_THEMES if os_name == WIN else tuple(t for t in LINUX_FILE_THEMES if t.os == os_name)
    theme = rng.choice(themes)
    body, qualifier = file_clauses(rng, theme, hot)
    base = [os_clause(os_name)] if os_name != WIN or rng.random() < 0.9 else []
    return Built(
        render_event_query("file", base + body), theme.title, theme.what, theme.mitre, os_name, qualifier
    )
