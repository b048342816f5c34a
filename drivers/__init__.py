"""Drivers: connections to PostgreSQL (psycopg) and MySQL/MariaDB (PyMySQL), and a simulated one.

A driver opens and closes connections on the engine's request and reports what it sees as
`Opened` / `OpenFailed` / `Lost` events. Each engine's client library is imported only by
the module that talks to it.
"""
