"""Storage: the schema, engines and sessions, the blob store, the audit chain, crypto.

Nothing here is built at import time; :func:`vericlaim.storage.db.make_engine` reads the
settings when called.
"""
