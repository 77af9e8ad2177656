"""Alerts: built as Kibana's EQL rule builds them (:mod:`.build`), stored durably in SQLite
(:mod:`.store`), printed as a table, NDJSON or JSON (:mod:`.output`)."""
