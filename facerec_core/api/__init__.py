"""The HTTP API (``facerec serve``), its keys and its webhooks.

- :mod:`.app`: the FastAPI application: body limit, audit, error handlers.
- :mod:`.auth`: the key check of every ``/v1`` route (key, rate limit, role).
- :mod:`.problems`: the error answers and their stable codes.
- :mod:`.routes`: the ``/v1`` endpoints over the core.
- :mod:`.service`: one process's Recognizer, gallery, keys, limits and dispatcher.
- :mod:`.keys`: API keys (hashed, with roles and rate limits).
- :mod:`.limits`: per-key rate limits; the bounded work queue (503 when full).
- :mod:`.webhooks`: subscriptions, the signature, the outbox events are written to.
- :mod:`.delivery`: the dispatcher that sends the outbox, with retries.
- :mod:`.store`: their tables in the gallery's SQLite file.
- :mod:`.commands`: ``serve``, ``key …`` and ``webhook …`` on the command line.

Only :mod:`.app`, :mod:`.auth`, :mod:`.problems`, :mod:`.routes` and :mod:`.commands` import FastAPI or uvicorn; the
dashboard and the CLI use keys and webhooks without them.
"""
