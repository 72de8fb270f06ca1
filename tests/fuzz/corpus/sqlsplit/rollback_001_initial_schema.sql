-- Drop all tables (this will delete all data!)
DROP TABLE IF EXISTS brand_settings;
DROP TABLE IF EXISTS organization_members;
DROP TABLE IF EXISTS organizations;
DROP TABLE IF EXISTS deliverables;
DROP TABLE IF EXISTS profiles;
