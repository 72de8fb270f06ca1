SELECT $té$ café $té$;
SELECT 1.5e3, 1_000;
