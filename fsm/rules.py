"""The rules the graph implements, each quoted from its source.

Every transition of `fsm.graph` names one of these. A rule comes from the documentation
section (`doc.*`, quoted word for word: the specification) or, where the documentation is
silent, from Kea's code (`kea.*`, with the file it was read from). Where the two disagree the
documentation wins and the rule says so (`differs_from_kea`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    id: str
    text: str
    cite: str
    differs_from_kea: str = ""

    @property
    def source(self) -> str:
        return "documentation" if self.id.startswith("doc.") else "Kea code"


_DOC = "Kea ARM, Database Connectivity"

RULES: Mapping[str, Rule] = {
    r.id: r
    for r in (
        Rule(
            "doc.recovery-needs-startup",
            "Automatic recovery, when configured, only operates after a successful startup or "
            "reconfiguration during which connectivity to all backends has been successfully "
            "established.",
            _DOC,
        ),
        Rule(
            "doc.startup-fatal",
            "During server startup, the inability to connect to any of the configured backends "
            "is considered fatal only if retry-on-startup is set to false (the default). A fatal "
            "error is logged and the server exits",
            _DOC,
            differs_from_kea="Kea logs this at ERROR (DHCP4_CONFIG_LOAD_FAIL, DHCP4_INIT_FAIL), "
            "not FATAL; dbfsm logs Kea's messages and exits 1 as Kea does.",
        ),
        Rule(
            "doc.retry-on-startup",
            "If retry-on-startup is set to true, the server will start reconnection attempts "
            "even at server startup or on reconfigure events, and will honor the action "
            "specified in the on-fail parameter.",
            _DOC,
        ),
        Rule(
            "doc.reconfig-disconnects",
            "During dynamic reconfiguration, all backends are disconnected and then reconnected "
            "using the new configuration.",
            _DOC,
        ),
        Rule(
            "doc.reconfig-fails-up",
            "If connectivity to any of the backends cannot be established, the server logs a "
            "fatal error but remains up. It is able to process commands but does not serve "
            "clients.",
            _DOC,
            differs_from_kea="For lease and host databases Kea answers result 1 without a "
            "FATAL log (only config backends log DHCP4_CONFIG_UNRECOVERABLE_ERROR); dbfsm "
            "follows the documentation and logs that FATAL message for every backend.",
        ),
        Rule(
            "doc.loss-reconnects",
            "During normal operations, if connectivity to any of the backends is lost and "
            "automatic recovery for that backend is enabled, the server disconnects from the "
            "respective backend and then attempts to reconnect.",
            _DOC,
        ),
        Rule(
            "doc.stop-retry-exit",
            "stop-retry-exit - indicates that the server should stop the service while it tries "
            "to recover the connection, and exit if recovery is not successful after "
            "max-reconnect-tries.",
            _DOC,
        ),
        Rule(
            "doc.serve-retry-exit",
            "serve-retry-exit - indicates that the server should not stop the service while it "
            "tries to recover the connection, and exit if recovery is not successful after "
            "max-reconnect-tries.",
            _DOC,
        ),
        Rule(
            "doc.serve-retry-continue",
            "serve-retry-continue - indicates that the server should not stop the service while "
            "it tries to recover the connection, and not exit if recovery is not successful "
            "after max-reconnect-tries.",
            _DOC,
        ),
        Rule(
            "doc.restored",
            "If connectivity to all backends is restored, the server returns to normal operations.",
            _DOC,
        ),
        Rule(
            "doc.fatal-before-exit",
            "If the connection cannot be restored and the server is configured to exit, it "
            "issues a fatal error before shutdown.",
            _DOC,
        ),
        Rule(
            "doc.commands-during-recovery",
            "During the recovery process, the server ceases to serve clients according to the "
            "on-fail configured option but continues to respond to commands.",
            _DOC,
        ),
        Rule(
            "doc.schema-must-match",
            "For Kea DHCP servers to work with database backends, the database schema must be "
            "created and must match the version of the Kea server.",
            _DOC,
        ),
        Rule(
            "kea.schema-mismatch-not-retried",
            "A schema-version mismatch is a DbOpenError, never DbOpenErrorWithRetry, so it is "
            "fatal at startup even with retry-on-startup; inside the reconnect loop it fails the "
            "attempt like any other open error.",
            "mysql_connection.cc:422-476, pgsql_connection.cc:192-246",
        ),
        Rule(
            "kea.reconnect-loop",
            "dbReconnect: the first attempt runs at once, each failed attempt with retries left "
            "schedules the next in reconnect-wait-time milliseconds; max-reconnect-tries "
            "attempts in total.",
            "mysql_lease_mgr.cc:2348-2414, reconnect_ctl.h:69-71",
        ),
        Rule(
            "kea.reconnect-disabled",
            "A loss with max-reconnect-tries 0 or reconnect-wait-time 0 makes no attempt: the "
            "*-exit modes log FATAL ..._DB_RECONNECT_DISABLED and exit 1, serve-retry-continue "
            "logs ERROR ..._DB_RECONNECT_DISABLED.",
            "ctrl_dhcp4_srv.cc:1885-1925",
        ),
        Rule(
            "kea.retries-exhausted",
            "When the last attempt fails the *-exit modes log FATAL "
            "..._FATAL_DB_RECONNECT_FAILED and exit 1; serve-retry-continue logs ERROR "
            "..._DB_RECONNECT_FAILED and retries no more until reconfiguration.",
            "ctrl_dhcp4_srv.cc:1950-1972",
        ),
        Rule(
            "kea.stop-service-origin",
            "Under stop-retry-exit the lost callback disables the service for the origin "
            "3000 + manager ID on the first call of a loss episode; recovery enables it again.",
            "ctrl_dhcp4_srv.cc:1885-1948",
            differs_from_kea="Kea shares one origin among backends of the same kind (all MySQL "
            "host databases use 6011, all startup retries 3000), so one recovering sibling "
            "re-enables service while another is still lost; dbfsm keeps one origin per "
            "backend so that service returns only when every backend is restored, as the "
            "documentation says.",
        ),
        Rule(
            "kea.network-state",
            "The service is enabled iff the set of disabling origins is empty; disabling the "
            "same origin twice needs one enable.",
            "network_state.cc:55-67,228-238",
        ),
        Rule(
            "kea.reconfig-resets-origins",
            "After a configuration's managers are created, every database origin is cleared "
            "(resetForDbConnection).",
            "ctrl_dhcp4_srv.cc:1475",
        ),
        Rule(
            "kea.connect-order",
            "A configuration connects its config backends first, then the lease database, "
            "then the host databases, and stops at the first backend that cannot be opened.",
            "json_config_parser.cc:977-1000, cfg_db_access.cc:58-115",
        ),
        Rule(
            "kea.loss-during-recovery",
            "A loss noticed while a backend is already recovering or has been given up starts "
            "no second loop: the broken manager is gone until the loop or a reconfiguration "
            "makes a new one.",
            "generic_lease_mgr_unittest.cc:3797-3808, host_data_source_factory.cc:88-114",
        ),
        Rule(
            "kea.posted-recovery",
            "Recovery runs as jobs posted to the server's one thread (startRecoverDbConnection), "
            "one per lost backend in the order the losses were found: at startup and on "
            "reconfiguration the lease database first, then the host databases in order. Each "
            "job runs the lost callback and the first reconnect attempt, a synchronous open, "
            "before the next job starts; nothing else runs in between, so a stop-retry-exit "
            "backend's job has stopped the service before any command or request is handled.",
            "mysql_connection.h:743-754, cfg_db_access.cc:58-115, ctrl_dhcp4_srv.cc:1885-1925",
        ),
        Rule(
            "kea.one-loss-per-request",
            "A client request queries the lease database, then the host databases in the "
            "configuration's order; the first database error leaves the packet handler and the "
            "packet is dropped (DHCP4_PACKET_DROP_0007), so the backends after it are not "
            "queried. A second broken backend is noticed by a later request, which only a "
            "server that still serves handles.",
            "dhcp4_srv.cc processPacketAndSendResponse, host_mgr.cc getAll4; measured on Kea 2.2",
        ),
        Rule(
            "kea.reconnect-disabled-kept",
            "With reconnection disabled, serve-retry-continue keeps the broken manager: every "
            "later request that uses it hits the loss again, and the lost callback logs "
            "..._LOST_CONNECTION and ..._DB_RECONNECT_DISABLED again, never attempting. Once the "
            "attempts have run out the manager is gone: nothing more is logged.",
            "mysql_connection.h:696-754, ctrl_dhcp4_srv.cc:1885-1925; measured on Kea 2.2",
        ),
        Rule(
            "kea.shutdown",
            "The shutdown command stops the server with its exit-value argument (default 0).",
            "ctrl_dhcp4_srv.cc commandShutdownHandler",
        ),
        Rule(
            "kea.user-disable",
            "dhcp-disable adds the user origin, dhcp-enable removes it (or the origin given by "
            "origin-id); max-period re-enables the service after that many seconds.",
            "ctrl_dhcp4_srv.cc:676-712, network_state.cc",
        ),
    )
}
