#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <pg_query.h>

#include "safety.h"
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

/* Is comment c (the text after "--") a directive: "momentum-maintd:"
 * then words, in their exact form (spaces around the words and case
 * aside)?  Returns the words after the prefix (trimmed, *wlen long), or
 * NULL: anything else is a comment. */
static const char *directive_words(const char *c, size_t n, size_t *wlen)
{
	size_t p = 0, plen = strlen(DIRECTIVE_PREFIX);

	while (p < n && isspace((unsigned char)c[p]))
		p++;
	if (n - p < plen || strncasecmp(c + p, DIRECTIVE_PREFIX, plen) != 0)
		return NULL;
	p += plen;
	while (p < n && isspace((unsigned char)c[p]))
		p++;
	while (n > p && isspace((unsigned char)c[n - 1]))
		n--;
	*wlen = n - p;
	return c + p;
}

static bool word_is(const char *w, size_t n, const char *keyword);

/* A "--" comment (the text after the dashes): "no-transaction" before the
 * first statement sets no_transaction; after one it is refused (it would
 * silently do nothing).  "allow-unsafe CHECK", anywhere, accepts the
 * file's findings of that safety check; an unknown check is refused.
 * Other comments are comments. */
static int directive(struct sql_script *out, const char *c, size_t n, int line, bool after_first,
		     char *err, size_t errsize)
{
	size_t wlen, k;
	const char *w = directive_words(c, n, &wlen);
	int idx;

	if (w == NULL)
		return 0;
	if (wlen > 12 && strncasecmp(w, "allow-unsafe", 12) == 0 && isspace((unsigned char)w[12])) {
		for (k = 12; k < wlen && isspace((unsigned char)w[k]); k++)
			;
		if ((idx = safety_check_index(w + k, wlen - k)) < 0) {
			bool other_case = false;
			size_t used;

			for (idx = 0; safety_checks[idx] != NULL; idx++)
				if (strlen(safety_checks[idx]) == wlen - k &&
				    strncasecmp(safety_checks[idx], w + k, wlen - k) == 0)
					other_case = true;
			used = (size_t)snprintf(err, errsize, "line %d: allow-unsafe: unknown check \"%.*s\" (%s",
						line, (int)(wlen - k > 64 ? 64 : wlen - k), w + k,
						other_case ? "check names are lower case; known:" : "known:");
			for (idx = 0; safety_checks[idx] != NULL && used < errsize; idx++)
				used += (size_t)snprintf(err + used, errsize - used, " %s", safety_checks[idx]);
			if (used < errsize)
				snprintf(err + used, errsize - used, ")");
			return -1;
		}
		out->allow_unsafe |= 1u << idx;
		return 0;
	}
	if (!word_is(w, wlen, "no-transaction"))
		return 0;
	if (after_first) {
		snprintf(err, errsize, "line %d: directives must come before the first statement", line);
		return -1;
	}
	out->no_transaction = true;
	return 0;
}

/* After a closing quote: is the string continued, as PostgreSQL's lexer
 * allows, by white space holding a newline (and -- comments) then a quote?
 * Returns the offset of that quote, or 0. */
static size_t continuation(const struct scanner *s)
{
	size_t i = s->i;
	bool newline = false;

	for (;;) {
		while (i < s->len && (s->t[i] == ' ' || s->t[i] == '\t' || s->t[i] == '\n' || s->t[i] == '\r' ||
				      s->t[i] == '\f' || s->t[i] == '\v')) {
			newline |= s->t[i] == '\n';
			i++;
		}
		if (newline && i + 1 < s->len && s->t[i] == '-' && s->t[i + 1] == '-') {
			while (i < s->len && s->t[i] != '\n')
				i++;
			continue;
		}
		break;
	}
	return newline && i < s->len && s->t[i] == '\'' ? i : 0;
}

/* Skips '...' or "..." (a doubled quote stands for itself; in E'...'
 * a backslash escapes the next character), with the '...' that continue
 * a string on the next lines.  -1 when it never ends. */
static int skip_quoted(struct scanner *s, char quote, bool backslash)
{
	advance(s);
	for (;;) {
		size_t next;

		if (s->i >= s->len)
			return -1;
		if (backslash && at(s, 0) == '\\' && at(s, 1) >= 0) {
			advance(s);
			advance(s);
			continue;
		}
		if (at(s, 0) == quote) {
			advance(s);
			if (at(s, 0) == quote) {
				advance(s);
				continue;
			}
			if (quote != '\'' || (next = continuation(s)) == 0)
				return 0;
			while (s->i <= next)
				advance(s);
			continue;
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
	/* as psql: a semicolon inside parentheses ends nothing ("DO ALSO
	 * (INSERT ...; UPDATE ...)"), and standard_conforming_strings follows
	 * the file's SETs (off: a backslash escapes in '...') */
	int paren_depth;
	bool backslash_strings;
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
	sp->paren_depth = 0;
	sp->is_create = sp->is_routine = false;
}

/* "-- ...": the directive, or a comment. */
static int line_comment(struct splitter *sp)
{
	struct scanner *s = &sp->s;
	size_t b = s->i + 2;
	int line = s->line;

	while (s->i < s->len && s->t[s->i] != '\n')
		advance(s);
	return directive(sp->out, s->t + b, s->i - b, line, sp->in_stmt || sp->out->n > 0,
			 sp->err, sp->errsize);
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

/* A semicolon ends the statement, except inside parentheses or a BEGIN
 * ATOMIC body.  A SET of standard_conforming_strings changes how the
 * following strings are read, as psql follows the server's value. */
static int semicolon(struct splitter *sp)
{
	int scs;

	advance(&sp->s);
	if (sp->begin_depth > 0 || sp->paren_depth > 0)
		return 0;
	if (push_statement(sp, sp->s.i) < 0)
		return -1;
	scs = sql_sets_standard_strings(sp->s.t, &sp->out->stmts[sp->out->n - 1]);
	if (scs >= 0)
		sp->backslash_strings = scs == 0;
	return 0;
}

/* '...', E'...' (c is 'E' or 'e') or "...". */
static int quoted(struct splitter *sp, int c)
{
	struct scanner *s = &sp->s;
	int line = s->line;
	bool esc = c == 'E' || c == 'e' || (c == '\'' && sp->backslash_strings);

	if (c == 'E' || c == 'e')
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
	/* a column named begin, inside parentheses, opens nothing */
	else if (sp->is_routine && ((word_is(w, n, "begin") && sp->paren_depth == 0 &&
				     (sp->begin_depth > 0 || next_word_is(s, "atomic"))) ||
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
	if (c == '(')
		sp->paren_depth++;
	else if (c == ')' && sp->paren_depth > 0)
		sp->paren_depth--;
	if (ident_start(c))
		word(sp);
	else if (isdigit(c))
		number(s);
	else
		advance(s);
	return 0;
}

size_t sql_bom_len(const char *text, size_t len)
{
	return len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
}

int sql_split_scanner(const char *text, size_t len, struct sql_script *out, char *err, size_t errsize)
{
	struct splitter sp = {
		.s = { .t = text, .len = len, .i = sql_bom_len(text, len), .line = 1, .col = 1 },
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
	free(s->syntax.message);
	memset(&s->syntax, 0, sizeof(s->syntax));
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

/* ---- the tokens of one statement ------------------------------------------ */

/* A little lexer over one statement for the checks below: words (bare
 * identifiers and keywords) and single characters, with white space,
 * comments and quoted text skipped.  Strings are skipped with backslashes
 * taken as escapes only in E'...': close enough to find keywords. */
struct toks {
	const char *t;
	size_t i, end;
};

static void skip_string(struct toks *k, char quote, bool backslash)
{
	for (k->i++; k->i < k->end; k->i++) {
		if (backslash && k->t[k->i] == '\\') {
			k->i++;
			continue;
		}
		if (k->t[k->i] == quote) {
			if (k->i + 1 < k->end && k->t[k->i + 1] == quote)
				k->i++;
			else
				break;
		}
	}
	k->i++;
}

static void skip_dollar(struct toks *k)
{
	size_t b = k->i, tl = 1;

	while (b + tl < k->end && k->t[b + tl] != '$' && ident_char((unsigned char)k->t[b + tl]))
		tl++;
	if (b + tl >= k->end || k->t[b + tl] != '$') {
		k->i++;
		return;
	}
	tl++;
	for (k->i = b + tl; k->i + tl <= k->end; k->i++)
		if (memcmp(k->t + k->i, k->t + b, tl) == 0) {
			k->i += tl;
			return;
		}
	k->i = k->end;
}

/* The next token: *w and *n for a word (n == 0 for anything else, *w then
 * points at the character).  False at the end. */
static bool next_tok(struct toks *k, const char **w, size_t *n)
{
	const char *t = k->t;

	for (;;) {
		while (k->i < k->end && isspace((unsigned char)t[k->i]))
			k->i++;
		if (k->i >= k->end)
			return false;
		if (k->i + 1 < k->end && t[k->i] == '-' && t[k->i + 1] == '-') {
			while (k->i < k->end && t[k->i] != '\n')
				k->i++;
		} else if (k->i + 1 < k->end && t[k->i] == '/' && t[k->i + 1] == '*') {
			const char *e = memmem(t + k->i + 2, k->end - k->i - 2, "*/", 2);

			k->i = e ? (size_t)(e - t) + 2 : k->end;
		} else if (t[k->i] == '\'' || t[k->i] == '"') {
			skip_string(k, t[k->i], false);
		} else if ((t[k->i] == 'E' || t[k->i] == 'e') && k->i + 1 < k->end && t[k->i + 1] == '\'') {
			k->i++;
			skip_string(k, '\'', true);
		} else if (t[k->i] == '$' && k->i + 1 < k->end && !isdigit((unsigned char)t[k->i + 1])) {
			skip_dollar(k);
		} else {
			break;
		}
	}
	*w = t + k->i;
	*n = 0;
	if (ident_start((unsigned char)t[k->i])) {
		while (k->i < k->end && ident_char((unsigned char)t[k->i]))
			k->i++;
		*n = (size_t)(t + k->i - *w);
	} else {
		k->i++;
	}
	return true;
}

bool sql_is_copy_stdio(const char *text, const struct sql_stmt *stmt)
{
	struct toks k = { .t = text, .i = stmt->start, .end = stmt->start + stmt->len };
	const char *w;
	size_t n;
	int depth = 0;
	bool direction = false;   /* the word before was FROM or TO */

	if (!next_tok(&k, &w, &n) || !word_is(w, n, "copy"))
		return false;
	while (next_tok(&k, &w, &n)) {
		if (n == 0) {
			depth += *w == '(' ? 1 : *w == ')' ? -1 : 0;
			direction = false;
			continue;
		}
		if (depth == 0 && direction && (word_is(w, n, "stdin") || word_is(w, n, "stdout")))
			return true;
		direction = depth == 0 && (word_is(w, n, "from") || word_is(w, n, "to"));
	}
	return false;
}

int sql_sets_standard_strings(const char *text, const struct sql_stmt *stmt)
{
	struct toks k = { .t = text, .i = stmt->start, .end = stmt->start + stmt->len };
	const char *w;
	size_t n;
	bool reset;

	if (!next_tok(&k, &w, &n) || (!word_is(w, n, "set") && !word_is(w, n, "reset")))
		return -1;
	reset = word_is(w, n, "reset");
	if (!next_tok(&k, &w, &n))
		return -1;
	if (reset && word_is(w, n, "all"))
		return 1;
	if (!reset && (word_is(w, n, "session") || word_is(w, n, "local")) && !next_tok(&k, &w, &n))
		return -1;
	if (!word_is(w, n, "standard_conforming_strings"))
		return -1;
	if (reset)
		return 1;
	if (!next_tok(&k, &w, &n) || (!word_is(w, n, "to") && !(n == 0 && *w == '=')))
		return -1;
	/* the value: a word, or a quoted one (next_tok skips quoted text) */
	while (k.i < k.end && isspace((unsigned char)text[k.i]))
		k.i++;
	if (k.i < k.end && text[k.i] == '\'')
		k.i++;
	w = text + k.i;
	for (n = 0; k.i + n < k.end && (isalnum((unsigned char)w[n]) || w[n] == '_'); n++)
		;
	return word_is(w, n, "off") || word_is(w, n, "false") || word_is(w, n, "no") || word_is(w, n, "0") ? 0 : 1;
}

/* ---- PostgreSQL's parser ---------------------------------------------------- */

/* From *i, skips white space, semicolons and comments (nested slash-star
 * ones too), checking "--" comments for the directive.  Line numbers in
 * messages count from line at offset base.  -1 with err set on a
 * misplaced directive. */
static int skip_gap(const char *t, size_t end, size_t *i, size_t base, int line, struct sql_script *out,
		    char *err, size_t errsize)
{
	while (*i < end) {
		unsigned char c = (unsigned char)t[*i];

		if (c == '-' && *i + 1 < end && t[*i + 1] == '-') {
			size_t b = *i + 2;

			for (size_t k = base; k < *i; k++)
				line += t[k] == '\n';
			base = *i;
			while (*i < end && t[*i] != '\n')
				(*i)++;
			if (directive(out, t + b, *i - b, line, out->n > 0, err, errsize) < 0)
				return -1;
			continue;
		}
		if (c == '/' && *i + 1 < end && t[*i + 1] == '*') {
			int depth = 0;

			do {
				if (t[*i] == '/' && *i + 1 < end && t[*i + 1] == '*') {
					depth++;
					(*i)++;
				} else if (t[*i] == '*' && *i + 1 < end && t[*i + 1] == '/') {
					depth--;
					(*i)++;
				}
				(*i)++;
			} while (depth > 0 && *i < end);
			continue;
		}
		if (!isspace(c) && c != ';')
			return 0;
		(*i)++;
	}
	return 0;
}

/* Moves line and column from offset *from to offset to (characters). */
static void move_to(const char *t, size_t *from, size_t to, int *line, int *col)
{
	for (; *from < to; (*from)++) {
		if (t[*from] == '\n') {
			(*line)++;
			*col = 1;
		} else if (((unsigned char)t[*from] & 0xc0) != 0x80) {
			(*col)++;
		}
	}
}

/* The parser's statements as sql_stmts: each from its first token to its
 * semicolon, with the directive read from the comments between them. */
static int from_parser(const char *t, size_t off, const PgQuerySplitResult *r, struct sql_script *out,
		       char *err, size_t errsize)
{
	size_t i = off, at = off;
	int line = 1, col = 1;

	out->stmts = calloc(r->n_stmts ? (size_t)r->n_stmts : 1, sizeof(*out->stmts));
	if (out->stmts == NULL) {
		snprintf(err, errsize, "out of memory");
		return -1;
	}
	for (int k = 0; k < r->n_stmts; k++) {
		size_t b = off + (size_t)r->stmts[k]->stmt_location, e = b + (size_t)r->stmts[k]->stmt_len;
		struct sql_stmt *st = &out->stmts[out->n];

		move_to(t, &at, b > i ? b : i, &line, &col);
		i = at;
		if (skip_gap(t, e, &i, at, line, out, err, errsize) < 0)
			return -1;
		move_to(t, &at, i, &line, &col);
		if (i >= e)
			continue;
		if (t[e] == ';')
			e++;
		st->start = i;
		st->len = e - i;
		st->line = line;
		st->column = col;
		out->n++;
	}
	/* the comments after the last statement */
	if (out->n > 0)
		i = out->stmts[out->n - 1].start + out->stmts[out->n - 1].len;
	move_to(t, &at, i, &line, &col);
	return skip_gap(t, strlen(t), &i, at, line, out, err, errsize);
}

/* The parser's error as a sql_syntax_error: its position (1-based, in
 * characters from off, where the parser's text began) as a byte offset,
 * line and column of text.  The message stays NULL when out of memory:
 * the server then reports the error. */
static void keep_syntax_error(const char *text, size_t len, size_t off, const PgQueryError *e,
			      struct sql_syntax_error *out)
{
	size_t at = off;
	int line = 1, col = 1;

	memset(out, 0, sizeof(*out));
	for (int k = 1; k < e->cursorpos && at < len; k++) {
		size_t next = at + 1;

		while (next < len && ((unsigned char)text[next] & 0xc0) == 0x80)
			next++;
		move_to(text, &at, next, &line, &col);
	}
	out->message = strdup(e->message != NULL ? e->message : "syntax error");
	out->offset = at;
	out->line = line;
	out->column = col;
}

/* Splits with PostgreSQL 15's parser: 1 when it parsed, 0 when it did not
 * (syntax it does not know, or an error, kept in *syntax: the scanner
 * splits then), -1 on a misplaced directive or out of memory. */
static int parser_split(const char *text, size_t len, struct sql_script *out, struct sql_syntax_error *syntax,
			char *err, size_t errsize)
{
	size_t off = sql_bom_len(text, len);
	char *copy;
	PgQuerySplitResult r;
	int rc = 0;

	if (memchr(text, '\0', len) != NULL)
		return 0;
	copy = malloc(len + 1);
	if (copy == NULL) {
		snprintf(err, errsize, "out of memory");
		return -1;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	r = pg_query_split_with_parser(copy + off);
	if (r.error == NULL)
		rc = from_parser(copy, off, &r, out, err, errsize) < 0 ? -1 : 1;
	else
		keep_syntax_error(copy, len, off, r.error, syntax);
	pg_query_free_split_result(r);
	free(copy);
	if (rc < 0)
		sql_script_free(out);
	return rc;
}

int sql_parser_major(void)
{
	return PG_VERSION_NUM / 10000;
}

/* After SET standard_conforming_strings = off the parser reads '...'
 * strings unlike the server: its error from there on is no judgement. */
static bool strings_off_before(const char *text, const struct sql_script *s, size_t offset)
{
	for (size_t i = 0; i < s->n && s->stmts[i].start < offset; i++)
		if (sql_sets_standard_strings(text, &s->stmts[i]) == 0)
			return true;
	return false;
}

int sql_split(const char *text, size_t len, struct sql_script *out, char *err, size_t errsize)
{
	struct sql_syntax_error syntax = { 0 };
	int rc;

	memset(out, 0, sizeof(*out));
	rc = parser_split(text, len, out, &syntax, err, errsize);
	if (rc < 0)
		return -1;
	if (rc > 0) {
		/* strings after SET standard_conforming_strings = off read as
		 * psql reads them: the scanner follows the setting */
		for (size_t i = 0; i < out->n; i++)
			if (sql_sets_standard_strings(text, &out->stmts[i]) == 0)
				goto scanner;
		return 0;
	}
scanner:
	sql_script_free(out);
	rc = sql_split_scanner(text, len, out, err, errsize);
	if (rc == 0 && syntax.message != NULL && !strings_off_before(text, out, syntax.offset)) {
		out->syntax = syntax;
		return 0;
	}
	free(syntax.message);
	return rc;
}
