-- The findings' lifecycle, one statement per verification pass: each
-- finding is logged once when new, reminded every verify.remind_every,
-- and logged when resolved.
-- $1 the pass's findings (findings_json), $2 verify.remind_every as an
-- interval, $3 the ignored keys as a JSON array (kept, never resolved),
-- $4 whether the probe read everything (when not, earlier probe_*
-- findings are kept, not resolved).
-- Rows (action, key, check_name, level, object, detail, remedy, since)
-- for what is new, reminded or resolved.
WITH cur AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb)
    AS x(key text, check_name text, level text, object text, detail text, remedy text)
), gone AS (
  DELETE FROM momentum_maintd.verify_findings f
  WHERE NOT EXISTS (SELECT 1 FROM cur WHERE cur.key = f.key) AND f.key <> ALL (ARRAY(SELECT jsonb_array_elements_text($3::jsonb)))
    AND ($4::boolean OR f.check_name NOT LIKE 'probe\_%')
  RETURNING 'resolved'::text AS action, f.key, f.check_name, f.level, f.object, f.detail,
            ''::text AS remedy, f.first_seen
), up AS (
  INSERT INTO momentum_maintd.verify_findings AS f (key, check_name, level, object, detail)
  SELECT key, check_name, level, object, detail FROM cur
  ON CONFLICT (key) DO UPDATE SET level = excluded.level, detail = excluded.detail, last_seen = now(),
    reminded_at = CASE WHEN f.reminded_at <= now() - $2::interval OR f.level <> excluded.level
                       THEN now() ELSE f.reminded_at END
  RETURNING CASE WHEN f.xmax = 0 THEN 'new' WHEN f.reminded_at = now() THEN 'remind' ELSE '' END AS action,
            f.key, f.check_name, f.level, f.object, f.detail, f.first_seen
)
SELECT action, key, check_name, level, object, detail, remedy, since FROM (
  SELECT up.action, up.key, up.check_name, up.level, up.object, up.detail, coalesce(cur.remedy, '') AS remedy,
         to_char(up.first_seen, 'YYYY-MM-DD HH24:MI TZ') AS since
  FROM up JOIN cur USING (key) WHERE up.action <> ''
  UNION ALL
  SELECT action, key, check_name, level, object, detail, remedy, to_char(first_seen, 'YYYY-MM-DD HH24:MI TZ')
  FROM gone
) r ORDER BY action, CASE level WHEN 'error' THEN 0 WHEN 'warn' THEN 1 ELSE 2 END, check_name, object
