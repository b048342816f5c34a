"""Live: the engine on the real clock against real database servers.

`runtime` carries out the engine's actions on asyncio, `run` is `dbfsm run`, `control` is
Kea's control channel on a unix socket and `command` its client.
"""
