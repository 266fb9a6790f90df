# Sourced by the benchmark scripts: writes COUNT - 1 fixes of each of DEVICES (one name or
# several, separated by spaces; each already has its first fix, made through a server, so that
# the database and the devices exist) straight into the SQLite table, one every 30 s from
# FIRST + 30, on a small loop around 48.1, 11.5, as ingest would have stored them: several
# devices' fixes go in by time, each second's of all devices together, as when they report at
# the same time.
#
#   fill_fixes DB USER DEVICES FIRST COUNT TID [EXTRA_JSON]   # EXTRA_JSON: ',"batt":80' and such
fill_fixes() {
    local names
    names=$(printf "'%s'," $3)
    sqlite3 "$1" <<SQL
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $5 - 1),
fixes AS (
    SELECT i, $4 + 30 * i AS tst,
           round(48.1 + 0.05 * sin(i * 0.001), 7) AS lat,
           round(11.5 + 0.05 * cos(i * 0.001), 7) AS lon
    FROM n
)
INSERT INTO locations (device_id, tst, lat_e7, lon_e7, lat, lon, tid, acc, alt, vel, topic,
                       source, retained, received_at, payload)
SELECT d.id, f.tst, CAST(f.lat * 1e7 AS INTEGER), CAST(f.lon * 1e7 AS INTEGER), f.lat, f.lon,
       '$6', 5, 520, 30, 'owntracks/$2/' || d.device_name, 'mqtt', 0, f.tst + 2,
       '{"_type":"location","tid":"$6","lat":' || f.lat || ',"lon":' || f.lon || ',"tst":'
           || f.tst || ',"acc":5,"alt":520,"vel":30${7:-}}'
FROM fixes f, devices d WHERE d.user_name = '$2' AND d.device_name IN (${names%,})
ORDER BY f.tst, d.id;
SQL
}
