# Sourced by the benchmark scripts: writes COUNT - 1 fixes of a device that already has its
# first one (made through a server, so that the database and the device exist) straight into the
# SQLite table, one every 30 s from FIRST + 30, on a small loop around 48.1, 11.5, as ingest
# would have stored them.
#
#   fill_fixes DB USER DEVICE FIRST COUNT TID [EXTRA_JSON]   # EXTRA_JSON: ',"batt":80' and such
fill_fixes() {
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
       '$6', 5, 520, 30, 'owntracks/$2/$3', 'mqtt', 0, f.tst + 2,
       '{"_type":"location","tid":"$6","lat":' || f.lat || ',"lon":' || f.lon || ',"tst":'
           || f.tst || ',"acc":5,"alt":520,"vel":30${7:-}}'
FROM fixes f, devices d WHERE d.user_name = '$2' AND d.device_name = '$3';
SQL
}
