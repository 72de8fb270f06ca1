-- momentum-maintd: bogus
SELECT 1;
