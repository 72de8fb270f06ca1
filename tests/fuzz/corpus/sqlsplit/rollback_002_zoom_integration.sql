-- Drop cleanup function
DROP FUNCTION IF EXISTS cleanup_expired_zoom_tokens();

-- Drop table (this will delete all Zoom credentials!)
DROP TABLE IF EXISTS zoom_credentials;
