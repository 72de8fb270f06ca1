#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <locale.h>
#include <unistd.h>
#include <wchar.h>

#include <sha2.h>

#include "migfile.h"

/* golang-migrate's pair, N_name.up.sql and N_name.down.sql: the length
 * of ".up" or ".down" before ".sql" (0 for neither), and whether it is a
 * down file. */
static size_t updown_suffix(const char *filename, size_t len, bool *down)
{
	size_t end = len - 4;

	*down = false;
	if (end > 3 && strncmp(filename + end - 3, ".up", 3) == 0)
		return 3;
	if (end > 5 && strncmp(filename + end - 5, ".down", 5) == 0) {
		*down = true;
		return 5;
	}
	return 0;
}

int migfile_classify(const char *filename, enum migfile_kind *kind, int64_t *version,
		     size_t *stem_off, const char **why)
{
	size_t len = strlen(filename), off = 0, i, updown;
	int64_t v = 0;
	bool down;

	*kind = MIGFILE_IGNORED;
	if (len < 4 || strcasecmp(filename + len - 4, ".sql") != 0)
		return 0;
	if (strcmp(filename + len - 4, ".sql") != 0) {
		*why = "the extension must be lower-case .sql";
		return -1;
	}
	if (strncmp(filename, "rollback_", 9) == 0)
		off = 9;
	updown = updown_suffix(filename, len, &down);
	if (updown && off) {
		*why = "a rollback_ file cannot also end in .up.sql or .down.sql (use one naming or the other)";
		return -1;
	}
	for (i = off; isdigit((unsigned char)filename[i]); i++) {
		if (i - off >= MIGRATION_VERSION_MAX_DIGITS) {
			*why = "version number has more than 18 digits";
			return -1;
		}
		v = v * 10 + (filename[i] - '0');
	}
	if (i == off && (filename[0] == 'V' || filename[0] == 'U') && isdigit((unsigned char)filename[1])) {
		*why = "Flyway's V<version>__name.sql: rename it to <version>_name.sql (README, \"Coming from Flyway\")";
		return -1;
	}
	if (i == off) {
		*why = "name must start with a version number (NNN_name.sql or rollback_NNN_name.sql)";
		return -1;
	}
	if (filename[i] != '_') {
		*why = "version number must be followed by '_' and a name (NNN_name.sql)";
		return -1;
	}
	if (i + 1 >= len - 4 - updown) {
		*why = "missing name after the version number (NNN_name.sql)";
		return -1;
	}
	for (i++; i < len - 4 - updown; i++) {
		unsigned char ch = (unsigned char)filename[i];

		if (!isalnum(ch) && ch != '_' && ch != '-') {
			*why = "name may contain only letters, digits, '_' and '-'";
			return -1;
		}
	}
	*kind = off || down ? MIGFILE_ROLLBACK : MIGFILE_MIGRATION;
	*version = v;
	*stem_off = off;
	return 1;
}

/* libmd's SHA-256: a maintained implementation with no set-up on the first
 * digest (OpenSSL 3 loads its providers and openssl.cnf then, 1-2 ms of
 * every start, more than hashing 500 small migrations takes).  Without SHA
 * instructions it is half as fast as OpenSSL on big files (20 MiB: about
 * 130 ms against 65 ms); migrations are small.  Its hex is lower-case, as
 * the checksums databases recorded are. */
_Static_assert(SHA256_DIGEST_STRING_LENGTH == sizeof(((struct migration *)0)->checksum),
	       "a checksum is 64 hex digits and a NUL");

static bool ident_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '$';
}

/* Whether the word at s[*i] is word (any case); *i goes past it. */
static bool word_is(const char *s, size_t len, size_t *i, const char *word)
{
	size_t n = strlen(word);

	if (*i + n > len || strncasecmp(s + *i, word, n) != 0 || (*i + n < len && ident_char(s[*i + n])))
		return false;
	*i += n;
	return true;
}

static size_t skip_blanks(const char *s, size_t len, size_t i)
{
	while (i < len && isspace((unsigned char)s[i]))
		i++;
	return i;
}

/* After SET or RESET: [SESSION | LOCAL] then a name with a dot in it. */
static bool qualified_name_follows(const char *s, size_t len, size_t i)
{
	size_t j = skip_blanks(s, len, i), start;

	if (j == i)
		return false;
	if (word_is(s, len, &j, "session") || word_is(s, len, &j, "local"))
		j = skip_blanks(s, len, j);
	start = j;
	if (j < len && s[j] == '"') {
		for (j++; j < len && s[j] != '"'; j++)
			if (s[j] == '.')
				return true;
		j++;
	} else {
		while (j < len && ident_char(s[j]))
			j++;
	}
	return j > start && j < len && s[j] == '.';
}

bool migfile_may_define_setting(const char *sql, size_t len)
{
	size_t i = 0;

	while (i < len) {
		if (!(isalpha((unsigned char)sql[i]) || sql[i] == '_') || (i > 0 && ident_char(sql[i - 1]))) {
			i++;
			continue;
		}
		if (word_is(sql, len, &i, "set_config"))
			return true;
		if ((word_is(sql, len, &i, "set") || word_is(sql, len, &i, "reset")) &&
		    qualified_name_follows(sql, len, i))
			return true;
		while (i < len && ident_char(sql[i]))
			i++;
	}
	return false;
}

void sha256_hex(const void *data, size_t len, char out[65])
{
	SHA256Data(data, len, out);
}

long utf8_invalid_offset(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		unsigned char c = p[i];
		size_t n, k;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) { n = 1; cp = c & 0x1f; }
		else if (c >= 0xe0 && c <= 0xef) { n = 2; cp = c & 0x0f; }
		else if (c >= 0xf0 && c <= 0xf4) { n = 3; cp = c & 0x07; }
		else return (long)i;
		for (k = 1; k <= n; k++) {
			if (i + k >= len || (p[i + k] & 0xc0) != 0x80)
				return (long)i;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return (long)i;
		i += n + 1;
	}
	return -1;
}

void text_position(const char *text, long charpos, int *line, int *column,
		   const char **line_start, size_t *line_len)
{
	const char *p = text, *ls = text;
	long ch = 1;
	int l = 1, col = 1;

	while (*p != '\0' && ch < charpos) {
		if (*p == '\n') {
			l++;
			col = 1;
			ls = p + 1;
		} else {
			col++;
		}
		/* skip UTF-8 continuation bytes: positions count characters */
		p++;
		while (((unsigned char)*p & 0xc0) == 0x80)
			p++;
		ch++;
	}
	*line = l;
	*column = col;
	*line_start = ls;
	p = ls;
	while (*p != '\0' && *p != '\n')
		p++;
	*line_len = line_length(ls, (size_t)(p - ls));
}

size_t line_length(const char *line, size_t len)
{
	return len > 0 && line[len - 1] == '\r' ? len - 1 : len;
}

/* Display width of the UTF-8 character at s (n bytes), as a terminal shows
 * it: 2 for wide East Asian characters, 0 for combining ones.  wcwidth()
 * under C.UTF-8, whatever the daemon's own locale. */
static int char_width(const char *s, size_t n)
{
	static locale_t utf8;
	locale_t old;
	wchar_t wc;
	mbstate_t st = { 0 };
	int w;

	if ((unsigned char)*s < 0x80)
		return 1;
	if (utf8 == (locale_t)0)
		utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	if (utf8 == (locale_t)0)
		return 1;
	old = uselocale(utf8);
	w = mbrtowc(&wc, s, n, &st) > 0 ? wcwidth(wc) : 1;
	uselocale(old);
	return w < 0 ? 1 : w;
}

size_t caret_indent(const char *line, size_t len, int col, char *out, size_t outsize)
{
	size_t used = 0, i = 0;

	for (int c = 1; c < col && i < len; c++) {
		size_t n = 1;
		int w;

		while (i + n < len && ((unsigned char)line[i + n] & 0xc0) == 0x80)
			n++;
		w = line[i] == '\t' ? 1 : char_width(line + i, n);
		for (int k = 0; k < w && used + 1 < outsize; k++)
			out[used++] = line[i] == '\t' ? '\t' : ' ';
		i += n;
	}
	if (outsize > 0)
		out[used < outsize ? used : outsize - 1] = '\0';
	return used;
}

/* Reads a whole file with as few system calls as its size allows: name is
 * opened relative to dirfd (AT_FDCWD for a path), path is for messages. */
static int read_file_at(int dirfd, const char *name, const char *path, char **out, size_t *outlen,
			char *err, size_t errsize)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf = NULL;
	size_t len = 0, cap;
	int rc = -1;

	if (fd < 0) {
		snprintf(err, errsize, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		snprintf(err, errsize, "%s: cannot stat: %s", path, strerror(errno));
		goto out;
	}
	/* room for the whole file, a byte more to see it grew, and a NUL */
	cap = (size_t)st.st_size + 2;
	for (;;) {
		ssize_t got;

		if (buf == NULL || len + 1 >= cap) {
			char *grown;

			if (buf != NULL)
				cap *= 2;
			grown = realloc(buf, cap);
			if (grown == NULL) {
				snprintf(err, errsize, "%s: out of memory", path);
				goto out;
			}
			buf = grown;
		}
		got = read(fd, buf + len, cap - len - 1);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errsize, "%s: read error: %s", path, strerror(errno));
			goto out;
		}
		if (got == 0)
			break;
		len += (size_t)got;
		/* a plain file that gave the size fstat said (asked for a byte
		 * more) is read: no further read() just to be told so */
		if (S_ISREG(st.st_mode) && len == (size_t)st.st_size)
			break;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}

static int read_file(const char *path, char **out, size_t *outlen, char *err, size_t errsize)
{
	return read_file_at(AT_FDCWD, path, path, out, outlen, err, errsize);
}

static int check_content(const char *path, const char *sql, size_t len, char *err, size_t errsize)
{
	long bad;
	size_t i;
	int blank = 1;

	if (memchr(sql, '\0', len) != NULL) {
		snprintf(err, errsize, "%s: contains a NUL byte at offset %zu; is it a text file?",
			 path, (size_t)((const char *)memchr(sql, '\0', len) - sql));
		return -1;
	}
	bad = utf8_invalid_offset(sql, len);
	if (bad >= 0) {
		int line = 1;

		for (i = 0; i < (size_t)bad; i++)
			line += sql[i] == '\n';
		snprintf(err, errsize, "%s:%d: invalid UTF-8 at byte offset %ld; migrations must be UTF-8",
			 path, line, bad);
		return -1;
	}
	for (i = 0; i < len && blank; i++)
		if (!isspace((unsigned char)sql[i]))
			blank = 0;
	if (blank) {
		snprintf(err, errsize, "%s: empty migration file", path);
		return -1;
	}
	return 0;
}

/* sql_split's "line N: what" as "path:N: what". */
static void split_error(const char *path, const char *why, char *err, size_t errsize)
{
	int line;

	if (sscanf(why, "line %d:", &line) == 1)
		snprintf(err, errsize, "%s:%d:%s", path, line, strchr(why, ':') + 1);
	else
		snprintf(err, errsize, "%s: %s", path, why);
}

/* Splits the file into statements; a transactional migration must not
 * manage transactions itself, the daemon wraps it in one. */
static int parse_statements(struct migration *m, char *err, size_t errsize)
{
	char why[256];
	size_t i;

	if (sql_split(m->sql, m->sql_len, &m->script, why, sizeof(why)) < 0) {
		split_error(m->path, why, err, errsize);
		return -1;
	}
	if (m->script.n == 0) {
		snprintf(err, errsize, "%s: contains no SQL statement, only comments", m->path);
		return -1;
	}
	for (i = 0; i < m->script.n; i++) {
		const struct sql_stmt *st = &m->script.stmts[i];

		if (sql_is_copy_stdio(m->sql, st)) {
			snprintf(err, errsize, "%s:%d:%d: COPY ... FROM STDIN / TO STDOUT needs a client that "
				 "streams data; in a migration use INSERT, or COPY from a file on the server",
				 m->path, st->line, st->column);
			return -1;
		}
	}
	if (m->script.no_transaction)
		return 0;
	for (i = 0; i < m->script.n; i++) {
		if (sql_is_transaction_control(m->sql, &m->script.stmts[i])) {
			const struct sql_stmt *st = &m->script.stmts[i];
			size_t n = strcspn(m->sql + st->start, " \t\r\n;");

			snprintf(err, errsize, "%s:%d:%d: %.*s: a migration must not control transactions; "
				 "the daemon runs each migration in its own transaction (for statements that cannot "
				 "run in one, put \"-- momentum-maintd: no-transaction\" at the top of the file)",
				 m->path, st->line, st->column, (int)n, m->sql + st->start);
			return -1;
		}
	}
	return 0;
}

int migration_read_rollback(const struct migration *m, char **sql, struct sql_script *script,
			    char *err, size_t errsize)
{
	size_t len;
	char why[256];

	*sql = NULL;
	if (m->rollback_path == NULL) {
		char want[512];

		migfile_rollback_name(m->name, want, sizeof(want));
		snprintf(err, errsize, "%s: no rollback file (expected %s beside it)", m->path, want);
		return -1;
	}
	if (read_file(m->rollback_path, sql, &len, err, errsize) < 0 ||
	    check_content(m->rollback_path, *sql, len, err, errsize) < 0)
		goto fail;
	if (sql_split(*sql, len, script, why, sizeof(why)) < 0) {
		split_error(m->rollback_path, why, err, errsize);
		goto fail;
	}
	return 0;
fail:
	free(*sql);
	*sql = NULL;
	return -1;
}

static int cmp_version(const void *a, const void *b)
{
	const struct migration *x = a, *y = b;

	return (x->version > y->version) - (x->version < y->version);
}

struct migration *migration_set_find(const struct migration_set *set, int64_t version)
{
	struct migration key = { .version = version };

	if (set->n == 0)
		return NULL;
	return bsearch(&key, set->items, set->n, sizeof(key), cmp_version);
}

void migration_set_free(struct migration_set *set)
{
	size_t i;

	for (i = 0; i < set->n; i++) {
		free(set->items[i].name);
		free(set->items[i].path);
		free(set->items[i].rollback_path);
		free(set->items[i].sql);
		sql_script_free(&set->items[i].script);
	}
	free(set->items);
	set->items = NULL;
	set->n = 0;
}

/* Makes room for one more element in items (n used of *cap, each size
 * bytes): the array to use, or NULL when out of memory (items is kept). */
static void *room_for_one_more(void *items, size_t n, size_t *cap, size_t size)
{
	size_t ncap;
	void *grown;

	if (n < *cap)
		return items;
	ncap = *cap ? *cap * 2 : 16;
	grown = realloc(items, ncap * size);
	if (grown != NULL)
		*cap = ncap;
	return grown;
}

struct rollback_entry {
	int64_t version;
	char *file;
};

/* The files of a migrations directory as the scan finds them: migrations
 * go into the set, rollbacks wait until the set is sorted to be matched. */
struct dir_scan {
	const char *dir;
	struct migration_set *set;
	size_t cap;                   /* room in set->items */
	struct rollback_entry *rb;
	size_t nrb, rbcap;
};

/* readdir's type spares a stat of each plain file; a symlink, or a file
 * system that does not say, is looked at through stat. */
static int check_regular_file(const char *path, unsigned char d_type, char *err, size_t errsize)
{
	struct stat st;

	if (d_type == DT_REG)
		return 0;
	if (stat(path, &st) < 0) {
		/* a dangling symlink, a symlink loop, ... */
		snprintf(err, errsize, "%s: cannot stat: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errsize, "%s: not a regular file (%s)", path,
			 S_ISDIR(st.st_mode) ? "a directory" : S_ISFIFO(st.st_mode) ? "a FIFO" :
			 S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device" : "not a file");
		return -1;
	}
	return 0;
}

/* Both add_* take path: the scan frees it, also on error. */
static int add_rollback(struct dir_scan *sc, int64_t version, char *path, char *err, size_t errsize)
{
	struct rollback_entry *rb = room_for_one_more(sc->rb, sc->nrb, &sc->rbcap, sizeof(*rb));

	if (rb == NULL) {
		free(path);
		snprintf(err, errsize, "out of memory");
		return -1;
	}
	sc->rb = rb;
	rb[sc->nrb].version = version;
	rb[sc->nrb].file = path;
	sc->nrb++;
	return 0;
}

static int add_migration(struct dir_scan *sc, int64_t version, char *path, const char *filename,
			 char *err, size_t errsize)
{
	struct migration_set *set = sc->set;
	struct migration *items = room_for_one_more(set->items, set->n, &sc->cap, sizeof(*items)), *m;

	if (items == NULL) {
		free(path);
		snprintf(err, errsize, "out of memory");
		return -1;
	}
	set->items = items;
	m = &set->items[set->n++];
	memset(m, 0, sizeof(*m));
	m->version = version;
	m->path = path;
	m->name = strndup(filename, strlen(filename) - 4);
	if (m->name == NULL) {
		snprintf(err, errsize, "out of memory");
		return -1;
	}
	return 0;
}

/* One directory entry: a migration, a rollback, or nothing to do. */
static int scan_entry(struct dir_scan *sc, const struct dirent *de, char *err, size_t errsize)
{
	enum migfile_kind kind;
	int64_t version;
	size_t stem;
	const char *why;
	char *path;

	if (de->d_name[0] == '.')
		return 0;
	if (migfile_classify(de->d_name, &kind, &version, &stem, &why) < 0) {
		snprintf(err, errsize, "%s/%s: bad migration file name: %s", sc->dir, de->d_name, why);
		return -1;
	}
	if (kind == MIGFILE_IGNORED)
		return 0;
	if (asprintf(&path, "%s/%s", sc->dir, de->d_name) < 0) {
		snprintf(err, errsize, "out of memory");
		return -1;
	}
	if (check_regular_file(path, de->d_type, err, errsize) < 0) {
		free(path);
		return -1;
	}
	if (kind == MIGFILE_ROLLBACK)
		return add_rollback(sc, version, path, err, errsize);
	return add_migration(sc, version, path, de->d_name, err, errsize);
}

/* The set is sorted: equal versions are neighbours. */
static int check_unique_versions(const struct migration_set *set, char *err, size_t errsize)
{
	size_t i;

	for (i = 1; i < set->n; i++) {
		if (set->items[i].version == set->items[i - 1].version) {
			snprintf(err, errsize, "%s and %s: duplicate migration version %lld",
				 set->items[i - 1].path, set->items[i].path,
				 (long long)set->items[i].version);
			return -1;
		}
	}
	return 0;
}

void migfile_rollback_name(const char *name, char *out, size_t size)
{
	size_t n = strlen(name);

	if (n > 3 && strcmp(name + n - 3, ".up") == 0)
		snprintf(out, size, "%.*s.down.sql", (int)(n - 3), name);
	else
		snprintf(out, size, "rollback_%s.sql", name);
}

/* rollback_NAME.sql for NAME.sql; N_x.down.sql for N_x.up.sql. */
static bool rollback_matches(const char *base, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(base, "rollback_", 9) == 0)
		return strncmp(base + 9, name, n) == 0 && strcmp(base + 9 + n, ".sql") == 0;
	return n > 3 && strcmp(name + n - 3, ".up") == 0 && strncmp(base, name, n - 3) == 0 &&
	       strcmp(base + n - 3, ".down.sql") == 0;
}

/* Gives each rollback to its migration: same version, same name after
 * "rollback_" (or golang-migrate's .down for .up), one per migration. */
static int attach_rollbacks(struct dir_scan *sc, char *err, size_t errsize)
{
	size_t i;

	for (i = 0; i < sc->nrb; i++) {
		struct rollback_entry *rb = &sc->rb[i];
		struct migration *m = migration_set_find(sc->set, rb->version);
		const char *base = strrchr(rb->file, '/') + 1;

		if (m == NULL) {
			snprintf(err, errsize, "%s: rollback for version %lld, but there is no migration with that version",
				 rb->file, (long long)rb->version);
			return -1;
		}
		if (!rollback_matches(base, m->name)) {
			char want[512];

			migfile_rollback_name(m->name, want, sizeof(want));
			snprintf(err, errsize, "%s: does not match %s (expected %s)", rb->file, m->path, want);
			return -1;
		}
		if (m->rollback_path != NULL) {
			snprintf(err, errsize, "%s and %s: two rollbacks for version %lld",
				 m->rollback_path, rb->file, (long long)m->version);
			return -1;
		}
		m->rollback_path = rb->file;
		rb->file = NULL;
	}
	return 0;
}

long migfile_down_marker(const char *text)
{
	const char *p = text;

	for (; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		const char *q = p;

		if (q[0] != '-' || q[1] != '-')
			continue;
		for (q += 2; *q == ' ' || *q == '\t'; q++)
			;
		if (strncmp(q, "migrate:down", 12) == 0)
			return (long)(p - text);
	}
	return -1;
}

/* dbmate keeps a migration's undo in the same file, under "-- migrate:down":
 * run as a migration, the file would undo itself.  Refused, saying where the
 * undo goes, unless nothing but comments follows the marker. */
static int check_down_section(const struct migration *m, char *err, size_t errsize)
{
	long at = migfile_down_marker(m->sql);
	size_t i;
	int line = 1;

	if (at < 0)
		return 0;
	for (i = 0; i < m->script.n && m->script.stmts[i].start < (size_t)at; i++)
		;
	if (i == m->script.n)
		return 0;
	for (i = 0; i < (size_t)at; i++)
		line += m->sql[i] == '\n';
	snprintf(err, errsize, "%s:%d: dbmate's \"-- migrate:down\" section would run as part of the migration: "
		 "move the SQL under it to rollback_%s.sql and delete it from this file", m->path, line, m->name);
	return -1;
}

/* Reads, checks, splits and checksums each migration in version order. */
static int read_migrations(struct migration_set *set, const char *dir, DIR *d, char *err, size_t errsize)
{
	size_t i;

	for (i = 0; i < set->n; i++) {
		struct migration *m = &set->items[i];

		/* relative to the open directory: no walk of the whole path per file */
		if (read_file_at(dirfd(d), m->path + strlen(dir) + 1, m->path, &m->sql, &m->sql_len,
				 err, errsize) < 0 ||
		    check_content(m->path, m->sql, m->sql_len, err, errsize) < 0 ||
		    parse_statements(m, err, errsize) < 0 || check_down_section(m, err, errsize) < 0)
			return -1;
		sha256_hex(m->sql, m->sql_len, m->checksum);
	}
	return 0;
}

int migration_set_load(const char *dir, struct migration_set *set, char *err, size_t errsize)
{
	struct dir_scan sc = { .dir = dir, .set = set };
	struct dirent *de;
	DIR *d;
	size_t i;
	int rc = -1;

	set->items = NULL;
	set->n = 0;
	d = opendir(dir);
	if (d == NULL) {
		snprintf(err, errsize, "%s: cannot open migrations directory: %s (migrations.directory)",
			 dir, strerror(errno));
		return -2;
	}
	while ((de = readdir(d)) != NULL) {
		if (scan_entry(&sc, de, err, errsize) < 0)
			goto out;
	}
	if (set->n > 1)
		qsort(set->items, set->n, sizeof(set->items[0]), cmp_version);
	if (check_unique_versions(set, err, errsize) < 0 || attach_rollbacks(&sc, err, errsize) < 0 ||
	    read_migrations(set, dir, d, err, errsize) < 0)
		goto out;
	rc = 0;
out:
	for (i = 0; i < sc.nrb; i++)
		free(sc.rb[i].file);
	free(sc.rb);
	closedir(d);
	if (rc < 0)
		migration_set_free(set);
	return rc;
}
