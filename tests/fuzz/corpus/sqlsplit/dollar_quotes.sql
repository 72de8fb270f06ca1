CREATE OR REPLACE FUNCTION g() RETURNS trigger AS $body$
BEGIN
  RAISE NOTICE $$semi;colon$$;
  RETURN NEW;
END;
$body$ LANGUAGE plpgsql;
