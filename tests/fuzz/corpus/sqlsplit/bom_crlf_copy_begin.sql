COPY e15_stdin_events TO '/x';
-- momentum-maintd: a comment
CREATE FUNCTION f() RETURNS void LANGUAGE sql BEGIN ATOMIC INSERT INTO t (begin) VALUES (1); END;
