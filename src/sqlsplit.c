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

static bool is_directive(const char *c, size_t n)
{
	size_t p = 0, plen = strlen(DIRECTIVE_PREFIX);

	while (p < n && isspace((unsigned char)c[p]))
		p++;
	return n - p >= plen && strncasecmp(c + p, DIRECTIVE_PREFIX, plen) == 0;
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
	size_t p = 0, plen = strlen(DIRECTIVE_PREFIX);

	while (p < n && isspace((unsigned char)c[p]))
		p++;
	if (n - p < plen || strncasecmp(c + p, DIRECTIVE_PREFIX, plen) != 0)
		return 0;
	p += plen;
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

static int push(struct sql_script *out, size_t *cap, size_t start, size_t end, int line, int col)
{
	if (out->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct sql_stmt *g = realloc(out->stmts, ncap * sizeof(*g));

		if (g == NULL)
			return -1;
		out->stmts = g;
		*cap = ncap;
	}
	out->stmts[out->n].start = start;
	out->stmts[out->n].len = end - start;
	out->stmts[out->n].line = line;
	out->stmts[out->n].column = col;
	out->n++;
	return 0;
}

int sql_split(const char *text, size_t len, struct sql_script *out, char *err, size_t errsize)
{
	struct scanner s = { .t = text, .len = len, .i = 0, .line = 1, .col = 1 };
	size_t cap = 0, start = 0;
	int start_line = 0, start_col = 0;
	bool in_stmt = false;
	/* BEGIN ATOMIC bodies: only in CREATE [OR REPLACE] FUNCTION/PROCEDURE */
	int words = 0, begin_depth = 0;
	bool is_create = false, is_routine = false;

	memset(out, 0, sizeof(*out));
	while (s.i < s.len) {
		int c = at(&s, 0);

		if (isspace(c)) {
			advance(&s);
			continue;
		}
		if (c == '-' && at(&s, 1) == '-') {
			size_t b = s.i + 2;
			int line = s.line;

			while (s.i < s.len && s.t[s.i] != '\n')
				advance(&s);
			if (!in_stmt && out->n == 0) {
				if (directive(out, text + b, s.i - b, line, err, errsize) < 0)
					goto fail;
			} else if (is_directive(text + b, s.i - b)) {
				snprintf(err, errsize, "line %d: directives must come before the first statement", line);
				goto fail;
			}
			continue;
		}
		if (c == '/' && at(&s, 1) == '*') {
			int depth = 0, line = s.line;

			do {
				if (at(&s, 0) == '/' && at(&s, 1) == '*') {
					depth++;
					advance(&s);
				} else if (at(&s, 0) == '*' && at(&s, 1) == '/') {
					depth--;
					advance(&s);
				}
				advance(&s);
			} while (depth > 0 && s.i < s.len);
			if (depth > 0) {
				snprintf(err, errsize, "line %d: unterminated /* comment", line);
				goto fail;
			}
			continue;
		}
		if (!in_stmt) {
			in_stmt = true;
			start = s.i;
			start_line = s.line;
			start_col = s.col;
			words = 0;
			begin_depth = 0;
			is_create = is_routine = false;
		}
		if (c == ';') {
			advance(&s);
			if (begin_depth > 0)
				continue;
			if (push(out, &cap, start, s.i, start_line, start_col) < 0)
				goto oom;
			in_stmt = false;
			continue;
		}
		if (c == '\'' || c == '"' || ((c == 'E' || c == 'e') && at(&s, 1) == '\'')) {
			int line = s.line;
			bool esc = c == 'E' || c == 'e';

			if (esc)
				advance(&s);
			if (skip_quoted(&s, (char)at(&s, 0), esc) < 0) {
				snprintf(err, errsize, "line %d: unterminated quoted %s", line,
					 c == '"' ? "identifier" : "string");
				goto fail;
			}
			words++;
			continue;
		}
		if (c == '$' && (at(&s, 1) == '$' || ident_start(at(&s, 1)))) {
			/* $tag$ ... $tag$ (a tag is an identifier without '$') */
			size_t b = s.i, k = 1, taglen;
			int line = s.line;

			while (at(&s, k) >= 0 && at(&s, k) != '$' && (isalnum(at(&s, k)) || at(&s, k) == '_' || at(&s, k) >= 0x80))
				k++;
			if (at(&s, k) == '$') {
				const char *close;

				taglen = k + 1;
				/* by bytes: advance() steps over a whole UTF-8 character */
				while (s.i < b + taglen)
					advance(&s);
				close = NULL;
				for (size_t j = s.i; j + taglen <= s.len; j++) {
					if (text[j] == '$' && memcmp(text + j, text + b, taglen) == 0) {
						close = text + j;
						break;
					}
				}
				if (close == NULL) {
					snprintf(err, errsize, "line %d: unterminated dollar-quoted string %.*s",
						 line, (int)taglen, text + b);
					goto fail;
				}
				while (text + s.i < close + taglen)
					advance(&s);
				words++;
				continue;
			}
			/* a lone $ (e.g. a parameter $1): fall through as a character */
		}
		if (ident_start(c)) {
			size_t b = s.i, n;

			while (s.i < s.len && ident_char(at(&s, 0)))
				advance(&s);
			n = s.i - b;
			words++;
			if (words == 1 && n == 6 && strncasecmp(text + b, "create", 6) == 0)
				is_create = true;
			else if (is_create && !is_routine && begin_depth == 0 &&
				 ((n == 8 && strncasecmp(text + b, "function", 8) == 0) ||
				  (n == 9 && strncasecmp(text + b, "procedure", 9) == 0)))
				is_routine = true;
			else if (is_routine && ((n == 5 && strncasecmp(text + b, "begin", 5) == 0 &&
						 (begin_depth > 0 || next_word_is(&s, "atomic"))) ||
						(n == 4 && strncasecmp(text + b, "case", 4) == 0 && begin_depth > 0)))
				begin_depth++;
			else if (is_routine && begin_depth > 0 && n == 3 && strncasecmp(text + b, "end", 3) == 0)
				begin_depth--;
			continue;
		}
		if (isdigit(c)) {
			while (s.i < s.len && (isalnum(at(&s, 0)) || at(&s, 0) == '.' || at(&s, 0) == '_'))
				advance(&s);
			continue;
		}
		advance(&s);
	}
	if (in_stmt && push(out, &cap, start, s.len, start_line, start_col) < 0)
		goto oom;
	return 0;
oom:
	snprintf(err, errsize, "out of memory");
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
