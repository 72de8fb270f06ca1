-- The imported deliverables are kept: they cannot be told apart from
-- deliverables created since.  Delete them by hand if the import must be
-- undone.
SELECT 'rollback of 006_import_legacy_sessions keeps the imported rows' AS note;
