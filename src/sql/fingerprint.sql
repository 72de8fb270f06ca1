md5('manifest 4;' || coalesce((SELECT string_agg(version::text || ':' || checksum, ',' ORDER BY version)
                               FROM momentum_maintd.schema_migrations), ''))
