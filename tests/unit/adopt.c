/* Unit tests for migrate adopt's pure parts: comparing SQL as two
 * splitters cut it, and Flyway's checksum. */
#include "config.h"

#include <stdlib.h>

#include "adopt.h"
#include "tap.h"

static void normalizes(const char *in, const char *want, const char *what)
{
	char *got = adopt_normalize_sql(in);

	is_str(got, want, "%s", what);
	free(got);
}

static bool same(const char *a, const char *b)
{
	char *x = adopt_normalize_sql(a), *y = adopt_normalize_sql(b);
	bool eq = x && y && strcmp(x, y) == 0;

	free(x);
	free(y);
	return eq;
}

static void test_normalize(void)
{
	normalizes("select  1 -- one\n;\n", "select 1", "comments and white space dropped, final ';' too");
	normalizes("  a;;\n;b ; ", "a;b", "empty statements dropped");
	normalizes("select ';' ; select 2;", "select ';';select 2", "';' inside a string is kept");
	normalizes("select 'a  -- b' ;", "select 'a  -- b'", "a string is kept as it is");
	normalizes("select \"x  y\";", "select \"x  y\"", "a quoted name is kept as it is");
	normalizes("create function f() returns int language sql as $$ select  1 ; $$;",
		   "create function f() returns int language sql as $$ select  1 ; $$", "a dollar quote is kept");
	normalizes("do $body$ begin -- x;\n end $body$;", "do $body$ begin -- x;\n end $body$", "a tagged one too");
	normalizes("select $1 ;  select 2", "select $1;select 2", "$1 is a parameter, not a quote");
	normalizes("select E'it\\'s; ok' ; x", "select E'it\\'s; ok';x", "E'' strings with a backslash quote");
	normalizes("a /* x /* y */ ; z */ b;", "a b", "nested block comments");
	normalizes("\xef\xbb\xbf" "select 1;", "select 1", "a byte order mark is dropped");
	normalizes("-- only a comment\n", "", "comments only: nothing");
	ok(same("-- users\ncreate table t (a int);\ncreate index i on t (a);\n-- end\n",
		"-- users\ncreate table t (a int)\n;\ncreate index i on t (a)\n;\n-- end"),
	   "a file and the Supabase CLI's statements joined compare equal");
	ok(same("select 1 -- trailing\n;", "select 1 -- trailing\n;\n"), "a statement that ends in a comment");
	ok(!same("create table t (a int);", "create table t (a bigint);"), "a changed type differs");
	ok(!same("select 'a  b';", "select 'a b';"), "white space inside a string counts");
	ok(!same("select 1; select 2;", "select 1 select 2"), "where ';' is counts");
	ok(!same("SELECT 1;", "select 1;"), "case counts (it is the file's text)");
}

/* CRC-32's check value, and Flyway's reading: lines without their breaks,
 * whichever they are, and no byte order mark. */
static void test_flyway_checksum(void)
{
	ok(adopt_flyway_checksum("123456789") == (int32_t)0xcbf43926u, "CRC-32 of 123456789 is cbf43926");
	ok(adopt_flyway_checksum("abc") == 891568578, "abc: 0x352441c2");
	ok(adopt_flyway_checksum("a\nb\r\nc\n") == adopt_flyway_checksum("abc"), "line breaks do not count");
	ok(adopt_flyway_checksum("a\rb\n\nc") == adopt_flyway_checksum("abc"), "nor old Mac ones or empty lines");
	ok(adopt_flyway_checksum("\xef\xbb\xbf" "abc") == adopt_flyway_checksum("abc"), "nor a byte order mark");
	ok(adopt_flyway_checksum("a c") != adopt_flyway_checksum("ac"), "spaces do");
	ok(adopt_flyway_checksum("") == 0, "an empty file is 0");
}

int main(void)
{
	test_flyway_checksum();
	test_normalize();
	return done_testing();
}
