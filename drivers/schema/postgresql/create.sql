-- dbfsm schema 1.0 for PostgreSQL: what a server's traffic reads and writes.
CREATE TABLE schema_version (
    version INT PRIMARY KEY NOT NULL,
    minor INT
);
INSERT INTO schema_version VALUES (1, 0);
CREATE TABLE lease4 (
    address BIGINT PRIMARY KEY NOT NULL,
    hwaddr VARCHAR(20),
    valid_lifetime INT,
    expire TIMESTAMP WITH TIME ZONE,
    subnet_id INT
);
CREATE TABLE hosts (
    host_id SERIAL PRIMARY KEY,
    dhcp_identifier VARCHAR(128) NOT NULL,
    ipv4_address BIGINT,
    hostname VARCHAR(255)
);
CREATE TABLE config_audit (
    revision_id SERIAL PRIMARY KEY,
    object_type VARCHAR(64),
    modification_ts TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()
);
