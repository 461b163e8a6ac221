"""A tiny chat app that reproduces the incident synthetic-monitor was born from.

A deploy skipped the database migration: the page renders, `GET /api/health`
answers 200, but every `GET/POST /api/threads` answers 500 with the database's
own error text, and the "New chat" button fails silently. Break and fix it live
with `POST /admin/break` and `POST /admin/migrate` (or `python -m demo break`
and `python -m demo migrate`).

    python -m demo serve --broken          # the incident
    python -m demo migrate                 # the fix

`demo.app.start_server(...)` runs it in a thread for tests. This is a target to
monitor, for local use only: the admin routes have no authentication.
"""
