-- dbfsm schema 1.0 for MySQL and MariaDB: what a server's traffic reads and writes.
CREATE TABLE schema_version (
    version INT PRIMARY KEY NOT NULL,
    minor INT
) ENGINE = InnoDB;
INSERT INTO schema_version VALUES (1, 0);
CREATE TABLE lease4 (
    address INT UNSIGNED PRIMARY KEY NOT NULL,
    hwaddr VARCHAR(20),
    valid_lifetime INT UNSIGNED,
    expire TIMESTAMP NULL,
    subnet_id INT UNSIGNED
) ENGINE = InnoDB;
CREATE TABLE hosts (
    host_id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
    dhcp_identifier VARCHAR(128) NOT NULL,
    ipv4_address INT UNSIGNED,
    hostname VARCHAR(255)
) ENGINE = InnoDB;
CREATE TABLE config_audit (
    revision_id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
    object_type VARCHAR(64),
    modification_ts TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
) ENGINE = InnoDB;
