"""vigil: run Elastic Security detection rules (EQL) anywhere, with Elasticsearch's semantics."""

__version__ = "0.1.0"
