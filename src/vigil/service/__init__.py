"""``vigil serve``: continuous detection as one process (ingest, schedule, alert, web console).

The parts, each in its own module:

* :mod:`vigil.service.settings` - the settings (command line, TOML config file, environment);
* :mod:`vigil.service.state` - the running service's shared state: settings, the durable event
  log and store, the rules, the alert store, the scheduler;
* :mod:`vigil.service.ingest` - the Elasticsearch-compatible ingest API (``GET /``, ``/_bulk``,
  ``/{index}/_bulk``, ``/{index}/_doc``) and the file/folder watcher;
* :mod:`vigil.service.scheduler` - every enabled rule at its interval over its look-back window;
* :mod:`vigil.service.api` - the JSON API under ``/api/`` (rules, alerts, runs, health; OpenAPI);
* :mod:`vigil.service.console` - the server-rendered web console;
* :mod:`vigil.service.app` - the Starlette application that mounts them.
"""
