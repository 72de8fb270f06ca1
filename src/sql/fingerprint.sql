md5('manifest 5;' || coalesce((SELECT string_agg(version::text || ':' || checksum, ',' ORDER BY version)
                               FROM momentum_maintd.schema_migrations), ''))
