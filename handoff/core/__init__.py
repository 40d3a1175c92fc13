"""The service core: app keys, database, models, settings, errors, middleware, metrics, OpenAPI."""
