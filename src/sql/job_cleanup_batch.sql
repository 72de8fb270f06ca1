WITH doomed AS (SELECT ctid FROM public.zoom_credentials
                WHERE expires_at < now() - $1::interval ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED),
gone AS (DELETE FROM public.zoom_credentials WHERE ctid = ANY (ARRAY(SELECT ctid FROM doomed)) RETURNING 1)
SELECT (SELECT count(*) FROM doomed), (SELECT count(*) FROM gone)
