-- The imported profiles are kept: they cannot be told apart from profiles
-- created since.  Delete them by hand if the import must be undone.
SELECT 'rollback of 005_import_legacy_users keeps the imported rows' AS note;
