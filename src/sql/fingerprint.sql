md5('manifest 3;' || coalesce((SELECT string_agg(version::text || ':' || checksum, ',' ORDER BY version)
                               FROM momentum_maintd.schema_migrations), ''))
