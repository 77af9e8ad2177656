"""The rule generator behind ``benchmarks/gen_rules.py``; that script's docstring says what it
generates and why.

* :mod:`.settings`: rule identities, the mix of kinds, severities, schedules, index patterns;
* :mod:`.mitre`: ATT&CK tactics and techniques;
* :mod:`.vocab`: the value vocabularies and rule themes, per domain (programs, process, files,
  registry, network and DNS);
* :mod:`.eql`: EQL text (literals, conditions, query layout);
* :mod:`.builders`: the query builders, one module per rule kind, and ``BUILDERS``;
* :mod:`.rules`: whole rules and :func:`~.rules.generate`;
* :mod:`.output`: TOML files, the Kibana export, the summary line.
"""
