/* Unit tests for the SQL statement splitter and directives, with bad input. */
#include "config.h"

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
	ok(split("-- momentum-maintd: no-transactions\nSELECT 1;") < 0, "unknown directive refused");
	is_str(err, "line 1: unknown directive \"no-transactions\" (known: no-transaction)", "names it and the known ones");
	ok(split("SELECT 1;\n-- momentum-maintd: no-transaction\n") < 0, "directive after a statement refused");
	is_str(err, "line 2: directives must come before the first statement", "says why");

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
