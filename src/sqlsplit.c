#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sqlsplit.h"

#define DIRECTIVE_PREFIX "momentum-maintd:"

struct scanner {
	const char *t;
	size_t len, i;
	int line;
	int col;          /* characters since the line start, 1-based */
};

static void advance(struct scanner *s)
{
	/* the last character may be cut short ("E'\\" then a lone UTF-8
	 * continuation byte): never step past the end */
	if (s->i >= s->len)
		return;
	if (s->t[s->i] == '\n') {
		s->line++;
		s->col = 1;
	} else if (((unsigned char)s->t[s->i] & 0xc0) != 0x80) {
		s->col++;
	}
	s->i++;
	/* keep columns in characters: continuation bytes do not count */
	while (s->i < s->len && ((unsigned char)s->t[s->i] & 0xc0) == 0x80)
		s->i++;
}

static int at(const struct scanner *s, size_t k)
{
	return s->i + k < s->len ? (unsigned char)s->t[s->i + k] : -1;
}

static bool ident_start(int c)
{
	return c >= 0 && (isalpha(c) || c == '_' || c >= 0x80);
}

static bool ident_char(int c)
{
	return c >= 0 && (isalnum(c) || c == '_' || c == '$' || c >= 0x80);
}

/* Is comment c (the text after "--") a "momentum-maintd:" directive?  If
 * so, *word is where the text after the prefix starts. */
static bool directive_prefix(const char *c, size_t n, size_t *word)
{
	size_t p = 0, plen = strlen(DIRECTIVE_PREFIX);

	while (p < n && isspace((unsigned char)c[p]))
		p++;
	if (n - p < plen || strncasecmp(c + p, DIRECTIVE_PREFIX, plen) != 0)
		return false;
	*word = p + plen;
	return true;
}

/* Skips '...' or "..." (a doubled quote stands for itself; in E'...'
 * a backslash escapes the next character).  -1 when it never ends. */
static int skip_quoted(struct scanner *s, char quote, bool backslash)
{
	advance(s);
	for (;;) {
		if (s->i >= s->len)
			return -1;
		if (backslash && at(s, 0) == '\\' && at(s, 1) >= 0) {
			advance(s);
			advance(s);
			continue;
		}
		if (at(s, 0) == quote) {
			advance(s);
			if (at(s, 0) != quote)
				return 0;
		}
		advance(s);
	}
}

/* Is the next word (after spaces and comments) w?  "BEGIN ATOMIC" opens a
 * routine body; a parameter named "begin" does not. */
static bool next_word_is(const struct scanner *s, const char *w)
{
	size_t i = s->i, n = strlen(w);

	for (;;) {
		while (i < s->len && isspace((unsigned char)s->t[i]))
			i++;
		if (i + 1 < s->len && s->t[i] == '-' && s->t[i + 1] == '-') {
			while (i < s->len && s->t[i] != '\n')
				i++;
			continue;
		}
		if (i + 1 < s->len && s->t[i] == '/' && s->t[i + 1] == '*') {
			/* bounded: text need not end with a NUL */
			const char *end = memmem(s->t + i + 2, s->len - i - 2, "*/", 2);

			if (end == NULL)
				return false;
			i = (size_t)(end - s->t) + 2;
			continue;
		}
		break;
	}
	return i + n <= s->len && strncasecmp(s->t + i, w, n) == 0 &&
	       (i + n == s->len || !ident_char((unsigned char)s->t[i + n]));
}

/* Reads a directive comment "-- momentum-maintd: xyz". */
static int directive(struct sql_script *out, const char *c, size_t n, int line, char *err, size_t errsize)
{
	size_t p;

	if (!directive_prefix(c, n, &p))
		return 0;
	while (p < n && isspace((unsigned char)c[p]))
		p++;
	while (n > p && isspace((unsigned char)c[n - 1]))
		n--;
	if (n - p == strlen("no-transaction") && strncasecmp(c + p, "no-transaction", n - p) == 0) {
		out->no_transaction = true;
		return 0;
	}
	snprintf(err, errsize, "line %d: unknown directive \"%.*s\" (known: no-transaction)",
		 line, (int)(n - p), c + p);
	return -1;
}

/* The splitter's state: the scanner, the script it fills, and what it knows
 * of the statement it is in. */
struct splitter {
	struct scanner s;
	struct sql_script *out;
	size_t cap;              /* room in out->stmts */
	char *err;
	size_t errsize;
	bool in_stmt;
	size_t start;            /* the statement's first token */
	int start_line, start_col;
	/* BEGIN ATOMIC bodies: only in CREATE [OR REPLACE] FUNCTION/PROCEDURE */
	int words, begin_depth;
	bool is_create, is_routine;
};

/* Records the statement from sp->start to end; -1 when out of memory. */
static int push_statement(struct splitter *sp, size_t end)
{
	struct sql_script *out = sp->out;

	if (out->n == sp->cap) {
		size_t ncap = sp->cap ? sp->cap * 2 : 16;
		struct sql_stmt *g = realloc(out->stmts, ncap * sizeof(*g));

		if (g == NULL) {
			snprintf(sp->err, sp->errsize, "out of memory");
			return -1;
		}
		out->stmts = g;
		sp->cap = ncap;
	}
	out->stmts[out->n].start = sp->start;
	out->stmts[out->n].len = end - sp->start;
	out->stmts[out->n].line = sp->start_line;
	out->stmts[out->n].column = sp->start_col;
	out->n++;
	sp->in_stmt = false;
	return 0;
}

static void statement_begins(struct splitter *sp)
{
	sp->in_stmt = true;
	sp->start = sp->s.i;
	sp->start_line = sp->s.line;
	sp->start_col = sp->s.col;
	sp->words = 0;
	sp->begin_depth = 0;
	sp->is_create = sp->is_routine = false;
}

/* "-- ...": a directive before the first statement, else a comment (and a
 * directive after a statement is an error). */
static int line_comment(struct splitter *sp)
{
	struct scanner *s = &sp->s;
	size_t b = s->i + 2, word;
	int line = s->line;

	while (s->i < s->len && s->t[s->i] != '\n')
		advance(s);
	if (!sp->in_stmt && sp->out->n == 0)
		return directive(sp->out, s->t + b, s->i - b, line, sp->err, sp->errsize);
	if (directive_prefix(s->t + b, s->i - b, &word)) {
		snprintf(sp->err, sp->errsize, "line %d: directives must come before the first statement", line);
		return -1;
	}
	return 0;
}

/* Slash-star comments nest in PostgreSQL. */
static int block_comment(struct splitter *sp)
{
	struct scanner *s = &sp->s;
	int depth = 0, line = s->line;

	do {
		if (at(s, 0) == '/' && at(s, 1) == '*') {
			depth++;
			advance(s);
		} else if (at(s, 0) == '*' && at(s, 1) == '/') {
			depth--;
			advance(s);
		}
		advance(s);
	} while (depth > 0 && s->i < s->len);
	if (depth > 0) {
		snprintf(sp->err, sp->errsize, "line %d: unterminated /* comment", line);
		return -1;
	}
	return 0;
}

/* A semicolon ends the statement, except inside a BEGIN ATOMIC body. */
static int semicolon(struct splitter *sp)
{
	advance(&sp->s);
	if (sp->begin_depth > 0)
		return 0;
	return push_statement(sp, sp->s.i);
}

/* '...', E'...' (c is 'E' or 'e') or "...". */
static int quoted(struct splitter *sp, int c)
{
	struct scanner *s = &sp->s;
	int line = s->line;
	bool esc = c == 'E' || c == 'e';

	if (esc)
		advance(s);
	if (skip_quoted(s, (char)at(s, 0), esc) < 0) {
		snprintf(sp->err, sp->errsize, "line %d: unterminated quoted %s", line,
			 c == '"' ? "identifier" : "string");
		return -1;
	}
	sp->words++;
	return 0;
}

/* $tag$ ... $tag$ (a tag is an identifier without '$').  Returns 1 when it
 * skipped one, 0 for a lone $ (e.g. a parameter $1), -1 when it never ends. */
static int dollar_quoted(struct splitter *sp)
{
	struct scanner *s = &sp->s;
	const char *text = s->t, *close = NULL;
	size_t b = s->i, k = 1, taglen;
	int line = s->line;

	while (at(s, k) >= 0 && at(s, k) != '$' && (isalnum(at(s, k)) || at(s, k) == '_' || at(s, k) >= 0x80))
		k++;
	if (at(s, k) != '$')
		return 0;
	taglen = k + 1;
	/* by bytes: advance() steps over a whole UTF-8 character */
	while (s->i < b + taglen)
		advance(s);
	for (size_t j = s->i; j + taglen <= s->len; j++) {
		if (text[j] == '$' && memcmp(text + j, text + b, taglen) == 0) {
			close = text + j;
			break;
		}
	}
	if (close == NULL) {
		snprintf(sp->err, sp->errsize, "line %d: unterminated dollar-quoted string %.*s",
			 line, (int)taglen, text + b);
		return -1;
	}
	while (text + s->i < close + taglen)
		advance(s);
	sp->words++;
	return 1;
}

static bool word_is(const char *w, size_t n, const char *keyword)
{
	return n == strlen(keyword) && strncasecmp(w, keyword, n) == 0;
}

/* An identifier or keyword.  Counts BEGIN/CASE ... END inside the BEGIN
 * ATOMIC body of CREATE FUNCTION/PROCEDURE, where semicolons do not end
 * the statement. */
static void word(struct splitter *sp)
{
	struct scanner *s = &sp->s;
	const char *w = s->t + s->i;
	size_t n;

	while (s->i < s->len && ident_char(at(s, 0)))
		advance(s);
	n = (size_t)(s->t + s->i - w);
	sp->words++;
	if (sp->words == 1 && word_is(w, n, "create"))
		sp->is_create = true;
	else if (sp->is_create && !sp->is_routine && sp->begin_depth == 0 &&
		 (word_is(w, n, "function") || word_is(w, n, "procedure")))
		sp->is_routine = true;
	else if (sp->is_routine && ((word_is(w, n, "begin") && (sp->begin_depth > 0 || next_word_is(s, "atomic"))) ||
				    (word_is(w, n, "case") && sp->begin_depth > 0)))
		sp->begin_depth++;
	else if (sp->is_routine && sp->begin_depth > 0 && word_is(w, n, "end"))
		sp->begin_depth--;
}

/* A number, with its exponent, decimal point or digit separators. */
static void number(struct scanner *s)
{
	while (s->i < s->len && (isalnum(at(s, 0)) || at(s, 0) == '.' || at(s, 0) == '_'))
		advance(s);
}

/* Reads one token (or space, or comment) at the scanner's position. */
static int split_token(struct splitter *sp)
{
	struct scanner *s = &sp->s;
	int c = at(s, 0);

	if (isspace(c)) {
		advance(s);
		return 0;
	}
	if (c == '-' && at(s, 1) == '-')
		return line_comment(sp);
	if (c == '/' && at(s, 1) == '*')
		return block_comment(sp);
	if (!sp->in_stmt)
		statement_begins(sp);
	if (c == ';')
		return semicolon(sp);
	if (c == '\'' || c == '"' || ((c == 'E' || c == 'e') && at(s, 1) == '\''))
		return quoted(sp, c);
	if (c == '$' && (at(s, 1) == '$' || ident_start(at(s, 1)))) {
		int rc = dollar_quoted(sp);

		if (rc != 0)
			return rc < 0 ? -1 : 0;
		/* a lone $: a character like any other */
	}
	if (ident_start(c))
		word(sp);
	else if (isdigit(c))
		number(s);
	else
		advance(s);
	return 0;
}

int sql_split(const char *text, size_t len, struct sql_script *out, char *err, size_t errsize)
{
	struct splitter sp = {
		.s = { .t = text, .len = len, .i = 0, .line = 1, .col = 1 },
		.out = out, .err = err, .errsize = errsize,
	};

	memset(out, 0, sizeof(*out));
	while (sp.s.i < sp.s.len) {
		if (split_token(&sp) < 0)
			goto fail;
	}
	if (sp.in_stmt && push_statement(&sp, len) < 0)
		goto fail;
	return 0;
fail:
	sql_script_free(out);
	return -1;
}

void sql_script_free(struct sql_script *s)
{
	free(s->stmts);
	s->stmts = NULL;
	s->n = 0;
}

/* Upper-cased first two words of the statement. */
static void first_words(const char *text, const struct sql_stmt *st, char *w1, char *w2, size_t size)
{
	const char *p = text + st->start, *end = text + st->start + st->len;
	char *outs[2] = { w1, w2 };

	w1[0] = w2[0] = '\0';
	for (int k = 0; k < 2; k++) {
		size_t n = 0;

		while (p < end && isspace((unsigned char)*p))
			p++;
		while (p < end && (isalpha((unsigned char)*p) || *p == '_') && n + 1 < size)
			outs[k][n++] = (char)toupper((unsigned char)*p++);
		outs[k][n] = '\0';
	}
}

bool sql_is_transaction_control(const char *text, const struct sql_stmt *stmt)
{
	char w1[32], w2[32];

	first_words(text, stmt, w1, w2, sizeof(w1));
	if (strcmp(w1, "BEGIN") == 0 || strcmp(w1, "COMMIT") == 0 || strcmp(w1, "END") == 0 ||
	    strcmp(w1, "ABORT") == 0)
		return true;
	if (strcmp(w1, "START") == 0 && strcmp(w2, "TRANSACTION") == 0)
		return true;
	/* ROLLBACK TO [SAVEPOINT] stays inside the transaction */
	if (strcmp(w1, "ROLLBACK") == 0 && strcmp(w2, "TO") != 0)
		return true;
	if (strcmp(w1, "PREPARE") == 0 && strcmp(w2, "TRANSACTION") == 0)
		return true;
	return false;
}
