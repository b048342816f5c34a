"""Database administration: `dbfsm db-init`, `db-version` and `db-upgrade`, after kea-admin."""
