"""Frozen copy of vigil's Security, System and PowerShell mappings, as they were before tuning.

``tests/test_windows_differential.py`` runs these and the live modules over every Security and
PowerShell record of ../shared/datasets and requires identical documents (values, types and key
order). Do not edit these files: they are the reference the optimised code is checked against.
The copies import each other (``_security_reference.*``) and nothing from ``vigil.ecs.windows``,
so changes there (including to ``util`` and ``common``) cannot leak in.
"""
