-- dbfsm schema 1.0 -> 2.0: leases keep a state, hosts are found by identifier.
ALTER TABLE lease4 ADD COLUMN state INT UNSIGNED NOT NULL DEFAULT 0;
CREATE INDEX hosts_by_identifier ON hosts (dhcp_identifier);
UPDATE schema_version SET version = 2, minor = 0;
