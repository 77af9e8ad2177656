"""The value vocabularies the queries are assembled from, and the rule themes built on them, per
domain. Most values are what ``gen_ecs.py`` writes ("hot") or attacker vocabulary it never writes."""
