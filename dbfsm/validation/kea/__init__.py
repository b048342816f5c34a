"""`dbfsm spec run --target kea`: the clauses of `specs/` played against a real kea-dhcp4 /
kea-dhcp6, so that they check the implementation the documentation describes, not only
dbfsm's model of it.

Each case gets private database servers behind fault proxies, a schema made by Kea's own
`kea-admin db-init`, a Kea configuration written from the case's, real DHCP packets on
loopback and Kea's control socket; what Kea logs, answers and does on the wire becomes the
records a case is matched against (`dbfsm.validation.clauses.divergence`). The private
servers, certificates and fault proxy live here too, so runtime code and the integration
tests share one copy.
"""
