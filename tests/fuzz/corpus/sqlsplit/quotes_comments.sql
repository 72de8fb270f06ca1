SELECT E'it\'s; here', 'a''b;c', "we;ird";
/* outer /* nested; */ still */ SELECT 2;
SELECT $1::int; -- trailing; comment
