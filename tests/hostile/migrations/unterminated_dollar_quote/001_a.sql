create function f() returns int as $fn$ select 1;

