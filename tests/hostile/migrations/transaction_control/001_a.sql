select 1;
BEGIN;
select 2;
COMMIT;
