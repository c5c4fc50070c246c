/*
 * cfg.c - the .vmx configuration file (cfg.h).
 *
 * Every line of the file is kept as it was read (struct cfg_line.raw), with
 * the key and unescaped value parsed alongside, so that cfg_set() can rewrite
 * one line and cfg_serialize() reproduces every other byte.  Values are always
 * double-quoted; inside them \" and \\ are the only escapes.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "cfg.h"
#include "fileutil.h"

#define CFG_MAX_FILE (4u << 20)
#define CFG_MAX_KEY 128

struct cfg_line {
	char *raw;      /* the line without its '\n' */
	char *key;      /* NULL for blank and comment lines */
	char *value;
	unsigned lineno;
};

struct cfg {
	char *name;
	struct cfg_line *lines;
	size_t nlines, cap;
	bool final_newline;   /* did the file end with '\n'? */
	unsigned next_lineno;
};

struct cfg *cfg_new(const char *name)
{
	struct cfg *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->name = strdup(name ? name : "<config>");
	if (!c->name) {
		free(c);
		return NULL;
	}
	c->final_newline = true;
	return c;
}

void cfg_free(struct cfg *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nlines; i++) {
		free(c->lines[i].raw);
		free(c->lines[i].key);
		free(c->lines[i].value);
	}
	free(c->lines);
	free(c->name);
	free(c);
}

const char *cfg_name(const struct cfg *c) { return c->name; }

static int push_line(struct cfg *c, char *raw, char *key, char *value, unsigned lineno)
{
	if (c->nlines == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 32;
		struct cfg_line *n = realloc(c->lines, ncap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		c->lines = n;
		c->cap = ncap;
	}
	c->lines[c->nlines++] = (struct cfg_line){ raw, key, value, lineno };
	return 0;
}

static bool key_char(char ch)
{
	return isalnum((unsigned char)ch) || ch == '.' || ch == '_' || ch == '-' || ch == ':';
}

static struct cfg_line *find(const struct cfg *c, const char *key)
{
	for (size_t i = 0; i < c->nlines; i++)
		if (c->lines[i].key && strcasecmp(c->lines[i].key, key) == 0)
			return &c->lines[i];
	return NULL;
}

/*
 * Parses one line (no newline).  On success key and value are malloc'd (both NULL
 * for blank/comment lines).  On error returns -EINVAL with a message.
 */
static int parse_line(const struct cfg *c, const char *s, size_t len, unsigned lineno,
		      char **key, char **value, struct verr *e)
{
	size_t i = 0, kstart, klen;
	char *v = NULL;
	size_t vlen = 0;

	*key = *value = NULL;
	while (i < len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i == len || s[i] == '#' || (s[i] == '\r' && i + 1 == len))
		return 0;
	kstart = i;
	while (i < len && key_char(s[i]))
		i++;
	klen = i - kstart;
	if (klen == 0)
		return verr_set(e, -EINVAL, "%s:%u: expected a key, found '%c'", c->name, lineno,
				isprint((unsigned char)s[i]) ? s[i] : '?');
	if (klen > CFG_MAX_KEY)
		return verr_set(e, -EINVAL, "%s:%u: key longer than %u characters", c->name,
				lineno, CFG_MAX_KEY);
	char k[CFG_MAX_KEY + 1];
	memcpy(k, s + kstart, klen);
	k[klen] = 0;
	while (i < len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i == len || s[i] != '=')
		return verr_set(e, -EINVAL, "%s:%u: key '%s': expected '=' after the key",
				c->name, lineno, k);
	i++;
	while (i < len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i == len || s[i] != '"')
		return verr_set(e, -EINVAL, "%s:%u: key '%s': value must be in double quotes",
				c->name, lineno, k);
	i++;
	v = malloc(len - i + 1);
	if (!v)
		return -ENOMEM;
	for (;;) {
		if (i == len) {
			free(v);
			return verr_set(e, -EINVAL, "%s:%u: key '%s': unterminated string",
					c->name, lineno, k);
		}
		char ch = s[i++];
		if (ch == '"')
			break;
		if (ch == '\\') {
			if (i == len || (s[i] != '"' && s[i] != '\\')) {
				free(v);
				return verr_set(e, -EINVAL,
						"%s:%u: key '%s': invalid escape (only \\\" and \\\\)",
						c->name, lineno, k);
			}
			ch = s[i++];
		} else if ((unsigned char)ch < 0x20 && ch != '\t') {
			free(v);
			return verr_set(e, -EINVAL, "%s:%u: key '%s': control character in value",
					c->name, lineno, k);
		}
		v[vlen++] = ch;
	}
	v[vlen] = 0;
	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
		i++;
	if (i < len && s[i] != '#') {
		free(v);
		return verr_set(e, -EINVAL, "%s:%u: key '%s': unexpected text after the value",
				c->name, lineno, k);
	}
	*key = strdup(k);
	if (!*key) {
		free(v);
		return -ENOMEM;
	}
	*value = v;
	return 0;
}

int cfg_parse(const char *name, const char *buf, size_t len, struct cfg **out, struct verr *e)
{
	struct cfg *c = cfg_new(name);
	size_t pos = 0;
	unsigned lineno = 0;
	int rc;

	if (!c)
		return verr_set(e, -ENOMEM, "out of memory");
	if (memchr(buf, '\0', len)) {
		rc = verr_set(e, -EINVAL, "%s: file contains a NUL byte (not a text file)", name);
		goto err;
	}
	c->final_newline = len == 0 || buf[len - 1] == '\n';
	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t llen = nl ? (size_t)(nl - (buf + pos)) : len - pos;
		char *key, *value, *raw;

		lineno++;
		rc = parse_line(c, buf + pos, llen, lineno, &key, &value, e);
		if (rc < 0)
			goto err;
		if (key) {
			const struct cfg_line *prev = find(c, key);
			if (prev) {
				rc = verr_set(e, -EINVAL,
					      "%s:%u: key '%s' is set twice (first on line %u)",
					      name, lineno, key, prev->lineno);
				free(key);
				free(value);
				goto err;
			}
		}
		raw = strndup(buf + pos, llen);
		if (!raw || push_line(c, raw, key, value, lineno) < 0) {
			free(raw);
			free(key);
			free(value);
			rc = verr_set(e, -ENOMEM, "out of memory");
			goto err;
		}
		pos += llen + (nl ? 1 : 0);
	}
	c->next_lineno = lineno + 1;
	*out = c;
	return 0;
err:
	cfg_free(c);
	return rc;
}

int cfg_load(const char *path, struct cfg **out, struct verr *e)
{
	char *buf;
	size_t len;
	int rc = file_read_all(path, CFG_MAX_FILE, &buf, &len, e);
	if (rc < 0)
		return rc;
	rc = cfg_parse(path, buf, len, out, e);
	free(buf);
	return rc;
}

const char *cfg_get(const struct cfg *c, const char *key)
{
	const struct cfg_line *l = find(c, key);
	return l ? l->value : NULL;
}

unsigned cfg_line(const struct cfg *c, const char *key)
{
	const struct cfg_line *l = find(c, key);
	return l ? l->lineno : 0;
}

int cfg_get_bool(const struct cfg *c, const char *key, bool def, bool *out, struct verr *e)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };
	const struct cfg_line *l = find(c, key);

	*out = def;
	if (!l)
		return 0;
	for (size_t i = 0; i < VMX_ARRAY_SIZE(yes); i++) {
		if (strcasecmp(l->value, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(l->value, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return verr_set(e, -EINVAL, "%s:%u: key '%s': \"%s\" is not a boolean (TRUE or FALSE)",
			c->name, l->lineno, l->key, l->value);
}

/*
 * Strict decimal: digits only, no sign, no spaces, no base prefix.  strtoull
 * with base 0 read "0200" as octal 128 and "0x10" as hex, which nobody
 * writing a .vmx by hand expects; a leading zero is just a leading zero.
 */
int cfg_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	if (!s[0])
		return -EINVAL;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* The value with control and non-ASCII bytes shown as \xNN, for messages. */
static void printable(const char *s, char *out, size_t outlen)
{
	size_t n = 0;
	for (; *s && n + 8 < outlen; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\')
			n += (size_t)snprintf(out + n, outlen - n, "\\x%02x", ch);
		else
			out[n++] = (char)ch;
	}
	strcpy(out + n, *s ? "..." : "");   /* the loop leaves room for it */
}

int cfg_get_u64(const struct cfg *c, const char *key, uint64_t def, uint64_t min, uint64_t max,
		uint64_t *out, struct verr *e)
{
	const struct cfg_line *l = find(c, key);
	char shown[96];
	uint64_t v;
	int rc;

	*out = def;
	if (!l)
		return 0;
	rc = cfg_parse_u64(l->value, &v);
	if (rc == -ERANGE)
		return verr_set(e, -ERANGE,
				"%s:%u: key '%s': %s is too large (range %" PRIu64 "..%" PRIu64 ")",
				c->name, l->lineno, l->key, l->value, min, max);
	if (rc < 0) {
		printable(l->value, shown, sizeof(shown));
		return verr_set(e, -EINVAL,
				"%s:%u: key '%s': \"%s\" is not a number (decimal digits only, "
				"range %" PRIu64 "..%" PRIu64 ")",
				c->name, l->lineno, l->key, shown, min, max);
	}
	if (v < min || v > max)
		return verr_set(e, -ERANGE,
				"%s:%u: key '%s': %" PRIu64 " is out of range (%" PRIu64 "..%" PRIu64 ")",
				c->name, l->lineno, l->key, v, min, max);
	*out = v;
	return 0;
}

int cfg_parse_duration(const char *s, uint64_t *secs)
{
	char digits[24];
	size_t nd = strspn(s, "0123456789");
	const char *end = s + nd;
	uint64_t v, mul = 1;

	if (nd == 0 || nd >= sizeof(digits))
		return nd ? -ERANGE : -EINVAL;
	memcpy(digits, s, nd);
	digits[nd] = 0;
	if (cfg_parse_u64(digits, &v) < 0)
		return -ERANGE;
	if (*end == 0 || strcmp(end, "s") == 0)
		mul = 1;
	else if (strcmp(end, "m") == 0)
		mul = 60;
	else if (strcmp(end, "h") == 0)
		mul = 3600;
	else if (strcmp(end, "d") == 0)
		mul = 86400;
	else
		return -EINVAL;
	if (v > UINT64_MAX / mul)
		return -ERANGE;
	*secs = v * mul;
	return 0;
}

int cfg_get_duration(const struct cfg *c, const char *key, uint64_t def, uint64_t *out,
		     struct verr *e)
{
	const struct cfg_line *l = find(c, key);
	*out = def;
	if (!l)
		return 0;
	if (cfg_parse_duration(l->value, out) < 0)
		return verr_set(e, -EINVAL,
				"%s:%u: key '%s': \"%s\" is not a duration (e.g. 90s, 15m, 2h, 1d)",
				c->name, l->lineno, l->key, l->value);
	return 0;
}

static char *format_line(const char *key, const char *value)
{
	size_t n = strlen(key) + 2 * strlen(value) + 8;
	char *s = malloc(n), *p;
	if (!s)
		return NULL;
	p = s + sprintf(s, "%s = \"", key);
	for (const char *v = value; *v; v++) {
		if (*v == '"' || *v == '\\')
			*p++ = '\\';
		*p++ = *v;
	}
	*p++ = '"';
	*p = 0;
	return s;
}

static bool value_ok(const char *value)
{
	for (const char *v = value; *v; v++)
		if ((unsigned char)*v < 0x20 && *v != '\t')
			return false;
	return true;
}

int cfg_set(struct cfg *c, const char *key, const char *value)
{
	struct cfg_line *l = find(c, key);
	char *raw, *nv;

	if (!key[0] || strlen(key) > CFG_MAX_KEY || !value_ok(value))
		return -EINVAL;
	for (const char *k = key; *k; k++)
		if (!key_char(*k))
			return -EINVAL;
	nv = strdup(value);
	if (!nv)
		return -ENOMEM;
	if (l) {
		/* Keep the key as the file spelled it and any indentation before it. */
		size_t indent = strspn(l->raw, " \t");
		char *body = format_line(l->key, value);
		if (!body) {
			free(nv);
			return -ENOMEM;
		}
		raw = malloc(indent + strlen(body) + 1);
		if (!raw) {
			free(body);
			free(nv);
			return -ENOMEM;
		}
		memcpy(raw, l->raw, indent);
		strcpy(raw + indent, body);
		free(body);
		free(l->raw);
		free(l->value);
		l->raw = raw;
		l->value = nv;
		return 0;
	}
	char *k = strdup(key);
	raw = format_line(key, value);
	if (!k || !raw || push_line(c, raw, k, nv, c->next_lineno) < 0) {
		free(k);
		free(raw);
		free(nv);
		return -ENOMEM;
	}
	c->next_lineno++;
	return 0;
}

int cfg_unset(struct cfg *c, const char *key)
{
	struct cfg_line *l = find(c, key);
	if (!l)
		return 0;
	free(l->raw);
	free(l->key);
	free(l->value);
	size_t idx = (size_t)(l - c->lines);
	memmove(l, l + 1, (c->nlines - idx - 1) * sizeof(*l));
	c->nlines--;
	return 0;
}

char *cfg_serialize(const struct cfg *c, size_t *len)
{
	size_t n = 1;
	char *buf, *p;

	for (size_t i = 0; i < c->nlines; i++)
		n += strlen(c->lines[i].raw) + 1;
	buf = malloc(n);
	if (!buf)
		return NULL;
	p = buf;
	for (size_t i = 0; i < c->nlines; i++) {
		size_t l = strlen(c->lines[i].raw);
		memcpy(p, c->lines[i].raw, l);
		p += l;
		/* The original's missing final newline stays missing on its last line only. */
		if (i + 1 < c->nlines || c->final_newline)
			*p++ = '\n';
	}
	*p = 0;
	if (len)
		*len = (size_t)(p - buf);
	return buf;
}

int cfg_save(const struct cfg *c, const char *path, struct verr *e)
{
	size_t len;
	char *buf = cfg_serialize(c, &len);
	int rc;
	if (!buf)
		return verr_set(e, -ENOMEM, "out of memory");
	rc = file_write_atomic(path, buf, len, 0644, e);
	free(buf);
	return rc;
}

bool cfg_iter(const struct cfg *c, size_t *pos, const char **key, const char **value)
{
	while (*pos < c->nlines) {
		const struct cfg_line *l = &c->lines[(*pos)++];
		if (l->key) {
			*key = l->key;
			*value = l->value;
			return true;
		}
	}
	return false;
}

int cfg_path(const struct cfg *c, const char *key, const char *vmdir, char *out, size_t outlen,
	     struct verr *e)
{
	const struct cfg_line *l = find(c, key);
	int n;
	if (!l || !l->value[0]) {
		out[0] = 0;
		return 0;
	}
	if (l->value[0] == '/')
		n = snprintf(out, outlen, "%s", l->value);
	else
		n = snprintf(out, outlen, "%s/%s", vmdir, l->value);
	if (n < 0 || (size_t)n >= outlen)
		return verr_set(e, -ENAMETOOLONG, "%s:%u: key '%s': path too long", c->name,
				l->lineno, l->key);
	return 0;
}

bool cfg_next_program(const char **cur, char *prog, size_t plen, char *file, size_t flen)
{
	const char *v = *cur;

	for (;;) {
		size_t n = strcspn(v, ";");
		const char *end = v + n, *colon;
		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
		while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (v == end) {
			v += strcspn(v, ";");
			if (!*v) {
				*cur = v;
				return false;
			}
			v++;
			continue;
		}
		colon = memchr(v, ':', (size_t)(end - v));
		if (colon && memchr(v, '/', (size_t)(colon - v)))
			colon = NULL;
		size_t pl = colon ? (size_t)(colon - v) : 0;
		const char *f = colon ? colon + 1 : v;
		if (pl >= plen || (size_t)(end - f) >= flen)
			return false;
		memcpy(prog, v, pl);
		prog[pl] = 0;
		memcpy(file, f, (size_t)(end - f));
		file[end - f] = 0;
		v += strcspn(v, ";");
		*cur = *v ? v + 1 : v;
		return true;
	}
}
