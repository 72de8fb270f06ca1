/* Unit tests for the SQL statement splitter and directives, with bad input. */
#include "config.h"

#include <string.h>

#include "sqlsplit.h"
#include "tap.h"

static struct sql_script sc;
static char err[256];

static int split(const char *t)
{
	sql_script_free(&sc);
	err[0] = '\0';
	return sql_split(t, strlen(t), &sc, err, sizeof(err));
}

static int count(const char *t)
{
	return split(t) == 0 ? (int)sc.n : -1;
}

/* the scanner alone: what splits when the parser does not know the syntax */
static int count_scanner(const char *t)
{
	sql_script_free(&sc);
	err[0] = '\0';
	return sql_split_scanner(t, strlen(t), &sc, err, sizeof(err)) == 0 ? (int)sc.n : -1;
}

static char stmtbuf[512];
static const char *stmt(const char *t, size_t i)
{
	snprintf(stmtbuf, sizeof(stmtbuf), "%.*s", (int)sc.stmts[i].len, t + sc.stmts[i].start);
	return stmtbuf;
}

int main(void)
{
	const char *t;

	ok(count("SELECT 1; SELECT 2;") == 2, "two statements");
	ok(count("SELECT 1") == 1, "last statement without a semicolon");
	ok(count("") == 0 && count("  \n-- only a comment\n/* and another */\n") == 0, "nothing to run");
	ok(count("SELECT ';'; SELECT 2;") == 2, "semicolon in a string");
	ok(count("SELECT 'it''s; fine';") == 1, "doubled quote in a string");
	ok(count("SELECT E'\\';'; SELECT 1;") == 2, "backslash-escaped quote in E''");
	ok(count("SELECT e'a\\\\'; SELECT 1;") == 2, "escaped backslash at the end of E''");
	ok(count("SELECT '\\'; SELECT 1;") == 2, "backslash is not an escape in a standard string");
	ok(count("SELECT $\xc3\xa9$a;b$\xc3\xa9$; SELECT 2;") == 2, "a dollar-quote tag with a non-ASCII letter (found by fuzzing)");
	ok(count("SELECT $\xc3\xa9$$\xc3\xa9$;") == 1, "an empty dollar-quoted string with a non-ASCII tag");
	ok(count("SELECT 1 AS \"a;b\"; SELECT 2;") == 2, "semicolon in a quoted identifier");
	ok(count("DO $$ BEGIN PERFORM 1; END $$; SELECT 2;") == 2, "semicolons in $$");
	ok(count("DO $body$ SELECT $$;$$; $body$; SELECT 1;") == 2, "nested dollar tags");
	ok(count("SELECT $1; SELECT 2;") == 2, "a parameter is not a dollar quote");
	ok(count("SELECT 1; -- a comment; with a semicolon\nSELECT 2;") == 2, "semicolon in a line comment");
	ok(count("SELECT /* a; /* nested; */ still; */ 1; SELECT 2;") == 2, "nested block comments");
	ok(count("CREATE FUNCTION f() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\n  SELECT 2;\nEND;\nSELECT 3;") == 2,
	   "BEGIN ATOMIC body is one statement");
	ok(count("CREATE OR REPLACE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END; END; SELECT 1;") == 2,
	   "CASE ... END inside BEGIN ATOMIC");
	ok(count("CREATE TABLE begin_log (x int); BEGIN; COMMIT;") == 3, "BEGIN outside a routine is a statement");
	ok(count("CREATE FUNCTION f(begin timestamptz) RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;\nCOMMIT;\nSELECT 2;") == 3,
	   "a parameter named begin does not open a body");
	ok(count("CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN /* c */ -- x\n ATOMIC SELECT 1; END; SELECT 2;") == 2,
	   "BEGIN and ATOMIC with comments between");

	t = "-- header\n/* multi\n   line */\n\nSELECT 1;\n  UPDATE x\n  SET y = 1;";
	ok(split(t) == 0 && sc.n == 2, "statements after comments");
	ok(sc.stmts[0].line == 5 && sc.stmts[0].column == 1, "line of the first statement (%d)", sc.stmts[0].line);
	ok(sc.stmts[1].line == 6 && sc.stmts[1].column == 3, "line and column of the second (%d:%d)",
	   sc.stmts[1].line, sc.stmts[1].column);
	is_str(stmt(t, 1), "UPDATE x\n  SET y = 1;", "statement text starts at its first token");
	t = "SELECT 'é'; SELECT 2;";
	ok(split(t) == 0 && sc.stmts[1].column == 13, "columns count characters (%d)", sc.stmts[1].column);

	ok(split("SELECT 'open;") < 0, "unterminated string");
	is_str(err, "line 1: unterminated quoted string", "says where");
	ok(split("SELECT 1;\n\nDO $$ BEGIN") < 0, "unterminated dollar quote");
	is_str(err, "line 3: unterminated dollar-quoted string $$", "names the tag and line");
	ok(split("SELECT 1;\n/* never closed") < 0, "unterminated comment");
	is_str(err, "line 2: unterminated /* comment", "says where");
	ok(split("SELECT \"x;") < 0, "unterminated identifier");
	ok(split("SELECT E'\\") < 0, "backslash at the very end");
	ok(split("\x01\x02\xff;\xfe") == 0, "binary garbage does not crash the splitter");

	ok(split("-- momentum-maintd: no-transaction\nCREATE INDEX CONCURRENTLY i ON t (x);") == 0 &&
	   sc.no_transaction && sc.n == 1, "no-transaction directive");
	ok(split("-- a comment first\n--   MOMENTUM-MAINTD:   no-transaction  \nSELECT 1;") == 0 && sc.no_transaction,
	   "directive after other comments, any case and spacing");
	ok(split("SELECT 1;") == 0 && !sc.no_transaction, "no directive: transactional");
	ok(split("-- momentum-maintd: no-transactions\nSELECT 1;") == 0 && !sc.no_transaction,
	   "only the exact directive counts: anything else is a comment");
	ok(split("CREATE TABLE t (x int);\n-- momentum-maintd: this table is for the imports\nSELECT 1;") == 0 &&
	   sc.n == 2 && !sc.no_transaction, "a comment starting momentum-maintd: after a statement is a comment");
	ok(count_scanner("CREATE TABLE t (x int);\n-- momentum-maintd: this table is ...\nSELECT 1;") == 2,
	   "... for the scanner too");
	ok(split("/* a\n block */ -- momentum-maintd: no-transaction\r\nCREATE INDEX CONCURRENTLY i ON t (x);\r\n") == 0 &&
	   sc.no_transaction, "the directive after a block comment, in a CRLF file");
	ok(split("SELECT 1;\n/* one\n two */\n--momentum-maintd:no-transaction\nSELECT 2;") < 0 &&
	   strcmp(err, "line 4: directives must come before the first statement") == 0,
	   "a misplaced directive's line counts the comments before it (%s)", err);
	ok(split("SELECT 1;\n-- momentum-maintd: no-transaction\n") < 0, "directive after a statement refused");
	is_str(err, "line 2: directives must come before the first statement", "says why");

	/* issue 16: what the hand-written splitter got wrong */
	t = "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); UPDATE b SET x = 1);\nSELECT 1;";
	ok(count(t) == 2, "a rule with several actions is one statement (%d)", count(t));
	ok(count_scanner(t) == 2, "... for the scanner too: semicolons inside parentheses end nothing");
	t = "CREATE FUNCTION f() RETURNS void LANGUAGE sql BEGIN ATOMIC\n  INSERT INTO t (begin, x) VALUES (1, 2);\nEND;\n"
	    "CREATE TABLE u (x int);\nSELECT 1;";
	ok(count(t) == 3, "a column named begin in a BEGIN ATOMIC body (%d)", count(t));
	ok(count_scanner(t) == 3, "... for the scanner too (%d)", count_scanner(t));
	t = "SELECT E'a\\'b'\n  'c\\'d';\nSELECT 2;";
	ok(count(t) == 2, "E'' continued on the next line with ''");
	ok(count_scanner(t) == 2, "... for the scanner too (%d)", count_scanner(t));
	ok(count_scanner("SELECT 'a' 'b;'; SELECT 2;") == 2 && count_scanner("SELECT 'a'\n--c\n'b;'; SELECT 2;") == 2,
	   "continuation needs a newline, comments allowed");
	t = "SET standard_conforming_strings = off;\nSELECT 'it\\'s';\nSET standard_conforming_strings TO on;\n"
	    "SELECT '\\'; SELECT 4;";
	ok(count(t) == 5, "standard_conforming_strings off, then on again, as psql reads it (%d: %s)", count(t), err);
	ok(sc.n == 5 && strcmp(stmt(t, 1), "SELECT 'it\\'s';") == 0, "the escaped quote stays in its string");
	t = "SET standard_conforming_strings = off;\nSELECT 'a\\'; SELECT 1; --';\nSELECT 2;";
	ok(count(t) == 3, "after it, a backslash escapes even where the parser would have split (%d)", count(t));
	t = "\xef\xbb\xbf" "CREATE TABLE t (x int);\nSELECT 1;";
	sql_script_free(&sc);
	ok(sql_split(t, strlen(t), &sc, err, sizeof(err)) == 0 && sc.n == 2 &&
	   sc.stmts[0].start == 3 && sc.stmts[0].line == 1 && sc.stmts[0].column == 1, "a byte order mark is skipped");
	sql_script_free(&sc);
	ok(sql_split_scanner("\xef\xbb\xbf" "SELECT 1;", 12, &sc, err, sizeof(err)) == 0 && sc.n == 1 &&
	   sc.stmts[0].start == 3 && sc.stmts[0].column == 1, "... by the scanner too");
	t = "COPY e15_stdin_events TO '/tmp/x';\nCOPY t FROM STDIN;\ncopy (select 1 from stdin_t) to stdout;\n"
	    "COPY t (a, b) FROM stdin WITH (FORMAT csv);\nCOPY \"stdin\" FROM '/f';\nCOPY t FROM '/stdin';";
	ok(split(t) == 0 && sc.n == 6, "COPY statements");
	ok(sc.n == 6 && !sql_is_copy_stdio(t, &sc.stmts[0]) && sql_is_copy_stdio(t, &sc.stmts[1]) &&
	   sql_is_copy_stdio(t, &sc.stmts[2]) && sql_is_copy_stdio(t, &sc.stmts[3]) &&
	   !sql_is_copy_stdio(t, &sc.stmts[4]) && !sql_is_copy_stdio(t, &sc.stmts[5]),
	   "COPY FROM STDIN / TO STDOUT told by its tokens, not a substring");
	t = "SELECT 1;\r\nSELECT\r\n  2;\r\n";
	ok(split(t) == 0 && sc.n == 2 && sc.stmts[1].line == 2 && sc.stmts[1].column == 1, "CRLF lines");
	t = "-- c\n/* a /* nested */ b */\n  SELECT 'é'; /* x */ SELECT 2 -- trailing\n;";
	ok(split(t) == 0 && sc.n == 2 && sc.stmts[0].line == 3 && sc.stmts[0].column == 3 &&
	   sc.stmts[1].line == 3 && sc.stmts[1].column == 23, "positions from the parser's split (%d:%d)",
	   sc.n == 2 ? sc.stmts[1].line : 0, sc.n == 2 ? sc.stmts[1].column : 0);
	ok(split("SELECT 1; CREATE TABLE t (x int) WITH SOMETHING_NEW 17; SELECT 3;") == 0 && sc.n == 3,
	   "syntax the parser does not know: the scanner splits and the server judges");
	ok(sc.syntax.message != NULL && strstr(sc.syntax.message, "SOMETHING_NEW") != NULL &&
	   sc.syntax.line == 1 && sc.syntax.column == 39 && sc.syntax.offset == 38,
	   "... and the parser's syntax error is kept, at its position (%d:%d %s)", sc.syntax.line,
	   sc.syntax.column, sc.syntax.message ? sc.syntax.message : "none");
	/* the position in characters, after wide ones, on a later line */
	t = "\xef\xbb\xbf" "CREATE TABLE \"\xe4\xb8\xad\xe6\x96\x87\" (x int);\nSELECT '\xc3\xa9\xe4\xb8\xad' FRM t;\n";
	ok(split(t) == 0 && sc.n == 2 && sc.syntax.message != NULL && sc.syntax.line == 2 && sc.syntax.column == 17 &&
	   strncmp(t + sc.syntax.offset, "t;", 2) == 0,
	   "a syntax error's line and column count characters, not bytes (%d:%d %s)", sc.syntax.line,
	   sc.syntax.column, sc.syntax.message ? sc.syntax.message : "none");
	ok(split("SELECT (1") == 0 && sc.syntax.message != NULL && strstr(sc.syntax.message, "end of input") != NULL &&
	   sc.syntax.line == 1 && sc.syntax.column == 10, "an error at the end of the input (%d:%d)",
	   sc.syntax.line, sc.syntax.column);
	ok(split("SELECT 1; SELECT 2;") == 0 && sc.syntax.message == NULL, "no syntax error, none kept");
	t = "SET standard_conforming_strings = off;\nSELECT 'it\\'s';\n";
	ok(split(t) == 0 && sc.n == 2 && sc.syntax.message == NULL,
	   "no syntax error kept after standard_conforming_strings = off (the parser reads strings otherwise)");
	t = "SELECT 1 FRM x;\nSET standard_conforming_strings = off;\nSELECT 'it\\'s';\n";
	ok(split(t) == 0 && sc.syntax.message != NULL && sc.syntax.line == 1 && sc.syntax.column == 14,
	   "... but one before it is kept (%d:%d)", sc.syntax.line, sc.syntax.column);
	ok(sql_sets_standard_strings("SET LOCAL standard_conforming_strings TO 'off'",
				     &(struct sql_stmt){ .start = 0, .len = 45 }) == 0 &&
	   sql_sets_standard_strings("RESET standard_conforming_strings", &(struct sql_stmt){ .start = 0, .len = 33 }) == 1 &&
	   sql_sets_standard_strings("SET search_path = off", &(struct sql_stmt){ .start = 0, .len = 21 }) == -1,
	   "SET standard_conforming_strings recognised");

	t = "BEGIN; start transaction; COMMIT; end; ABORT; ROLLBACK; rollback to savepoint a; SAVEPOINT a; "
	    "PREPARE TRANSACTION 'x'; SELECT 1; CREATE TABLE commit_log (x int);";
	ok(split(t) == 0 && sc.n == 11, "transaction control statements split");
	ok(sql_is_transaction_control(t, &sc.stmts[0]), "BEGIN");
	ok(sql_is_transaction_control(t, &sc.stmts[1]), "START TRANSACTION");
	ok(sql_is_transaction_control(t, &sc.stmts[2]), "COMMIT");
	ok(sql_is_transaction_control(t, &sc.stmts[3]), "END");
	ok(sql_is_transaction_control(t, &sc.stmts[4]), "ABORT");
	ok(sql_is_transaction_control(t, &sc.stmts[5]), "ROLLBACK");
	ok(!sql_is_transaction_control(t, &sc.stmts[6]), "ROLLBACK TO SAVEPOINT is fine");
	ok(!sql_is_transaction_control(t, &sc.stmts[7]), "SAVEPOINT is fine");
	ok(sql_is_transaction_control(t, &sc.stmts[8]), "PREPARE TRANSACTION");
	ok(!sql_is_transaction_control(t, &sc.stmts[9]), "SELECT");
	ok(!sql_is_transaction_control(t, &sc.stmts[10]), "CREATE TABLE commit_log");

	sql_script_free(&sc);
	return done_testing();
}
