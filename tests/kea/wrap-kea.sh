#!/bin/sh
# A WRONG Kea for tests/kea: it changes the configuration it is given, then runs the real
# kea-dhcp4 on it. DBFSM_WRONG_KEA says how: "tries" (one more reconnect try on every
# database) or "on-fail" (serve-retry-continue everywhere). DBFSM_REAL_KEA: the real binary.
set -eu
config=""
prev=""
for arg in "$@"; do
    if [ "$prev" = "-c" ]; then config="$arg"; fi
    prev="$arg"
done
if [ -n "$config" ]; then
    python3 - "$config" "$DBFSM_WRONG_KEA" <<'PY'
import json, sys
path, how = sys.argv[1], sys.argv[2]
doc = json.load(open(path))
server = doc.get("Dhcp4") or doc.get("Dhcp6")
maps = [server.get("lease-database"), server.get("hosts-database"), *server.get("hosts-databases", [])]
for item in maps:
    if isinstance(item, dict) and item.get("type") != "memfile":
        if how == "tries":
            item["max-reconnect-tries"] = item.get("max-reconnect-tries", 0) + 1
        else:
            item["on-fail"] = "serve-retry-continue"
json.dump(doc, open(path, "w"))
PY
fi
exec "$DBFSM_REAL_KEA" "$@"
