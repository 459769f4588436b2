/*
 * vaultparse.c - the pure parts of keysd's Vault client: the request
 * URL, the vault_allow check, and what an answer means (a KV v2 read,
 * or the auth block of a login or renewal).  No I/O here,
 * so all of it is unit-tested and can be fuzzed.
 */
#include "config.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "util.h"
#include "keysd.h"

/*
 * Does "mount/path" match a pattern of vault_allow (comma separated)?
 * fnmatch() without FNM_PATHNAME: a '*' spans '/'.
 */
int
vault_allowed(const char *allow, const char *mount, const char *path)
{
	char	*mp;
	int	 ok;

	if (asprintf(&mp, "%s/%s", mount, path) == -1)
		return 0;
	ok = list_fnmatch(allow, mp);
	free(mp);
	return ok;
}

/*
 * A mount or path with a "." or ".." segment could name, once an HTTP
 * stack has tidied the URL, another secret than vault_allow saw.
 */
static int
dot_segment(const char *s)
{
	const char	*p = s, *e;
	size_t		 n;

	for (;;) {
		e = strchr(p, '/');
		n = e != NULL ? (size_t)(e - p) : strlen(p);
		if ((n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.'))
			return 1;
		if (e == NULL)
			return 0;
		p = e + 1;
	}
}

int
vault_check_path(const char *mount, const char *path, char *err,
    size_t errlen)
{
	if (dot_segment(mount) || dot_segment(path)) {
		snprintf(err, errlen, "a '.' or '..' segment in vault_mount "
		    "or vault_path");
		return -1;
	}
	if (*mount == '/' || mount[strlen(mount) - 1] == '/') {
		snprintf(err, errlen, "vault_mount begins or ends with '/'");
		return -1;
	}
	return 0;
}

/* A header value: printable ASCII, no CR or LF to smuggle another in. */
int
vault_header_ok(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (*s < 0x20 || *s > 0x7e)
			return 0;
	return 1;
}

/*
 * An http:// or https:// URL that can go into a request as it is, and
 * without user:password@ (keysd names addresses in its logs).
 */
int
vault_address_ok(const char *a)
{
	const char	*host;

	if (strncmp(a, "http://", 7) == 0)
		host = a + 7;
	else if (strncmp(a, "https://", 8) == 0)
		host = a + 8;
	else
		return 0;
	return *host != '\0' && *host != '/' && vault_header_ok(a) &&
	    strchr(a, ' ') == NULL && strcspn(host, "/@") == strcspn(host, "/");
}

/* Append s, percent-escaped except for unreserved bytes and '/'. */
static char *
url_escape(char *o, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char	 c;

	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || strchr("-._~/", c) != NULL)
			*o++ = c;
		else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	return o;
}

/*
 * {address}/v1/{mount}/data/{path}, the address without its trailing
 * '/'s.  The caller frees it.
 */
char *
vault_url(const char *address, const char *mount, const char *path)
{
	size_t	 alen = strlen(address);
	char	*url, *o;

	while (alen > 0 && address[alen - 1] == '/')
		alen--;
	url = xcalloc(1, alen + 3 * (strlen(mount) + strlen(path)) + 16);
	memcpy(url, address, alen);
	o = url + alen;
	memcpy(o, "/v1/", 4);
	o = url_escape(o + 4, mount);
	memcpy(o, "/data/", 6);
	o = url_escape(o + 6, path);
	*o = '\0';
	return url;
}

/* Vault's "errors" texts, printable ASCII only, for a reason. */
static void
vault_errors(json_t *root, char *buf, size_t len)
{
	json_t		*errs, *e;
	const char	*s;
	size_t		 i, o = 0;

	buf[0] = '\0';
	errs = json_object_get(root, "errors");
	json_array_foreach(errs, i, e) {
		if ((s = json_string_value(e)) == NULL)
			continue;
		if (o > 0 && o + 2 < len) {
			buf[o++] = ';';
			buf[o++] = ' ';
		}
		for (; *s != '\0' && o + 1 < len; s++)
			buf[o++] = *s >= 0x20 && *s <= 0x7e ? *s : '?';
		buf[o] = '\0';
	}
}

/*
 * data.data is null and data.metadata says why: the latest version was
 * deleted (deletion_time set) or destroyed.  0 if that is not the case.
 */
static int
vault_gone(json_t *data, struct vault_answer *a)
{
	json_t		*md = json_object_get(data, "metadata");
	json_t		*dt, *ver;
	char		 v[32] = "";

	if (!json_is_null(json_object_get(data, "data")) ||
	    !json_is_object(md))
		return 0;
	if (json_is_integer(ver = json_object_get(md, "version")))
		snprintf(v, sizeof(v), "version %lld",
		    (long long)json_integer_value(ver));
	dt = json_object_get(md, "deletion_time");
	if (json_is_true(json_object_get(md, "destroyed"))) {
		a->cls = VC_DESTROYED;
		snprintf(a->why, sizeof(a->why), "the latest version is "
		    "destroyed%s%s%s", *v ? " (" : "", v, *v ? ")" : "");
	} else {
		a->cls = VC_DELETED;
		snprintf(a->why, sizeof(a->why), "the latest version is "
		    "deleted (%s%sdeleted at %.40s)", v, *v ? ", " : "",
		    json_is_string(dt) && *json_string_value(dt) ?
		    json_string_value(dt) : "an unknown time");
	}
	return 1;
}

static const char *
json_kind(json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT:	return "an object";
	case JSON_ARRAY:	return "an array";
	case JSON_INTEGER:
	case JSON_REAL:		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:	return "a boolean";
	case JSON_NULL:		return "null";
	default:		return "not a string";
	}
}

/* 200: the value at data.data[key], which must be a usable string. */
static void
vault_value(json_t *root, const char *key, struct vault_answer *a)
{
	json_t		*data = json_object_get(root, "data"), *dd, *v;
	const char	*k;
	size_t		 len, n = 0;
	char		 names[200] = "";

	if (json_is_object(data) && vault_gone(data, a))
		return;
	if (!json_is_object(data) ||
	    !json_is_object(dd = json_object_get(data, "data"))) {
		a->cls = VC_UNEXPECTED;
		snprintf(a->why, sizeof(a->why), "unexpected answer from "
		    "Vault: HTTP 200 without data.data (not a KV version 2 "
		    "secret?)");
		return;
	}
	if ((v = json_object_get(dd, key)) == NULL) {
		/* the names help with a typo; they are not secret */
		json_object_foreach(dd, k, v) {
			if (n == 8 || strlen(names) + strlen(k) + 8 >=
			    sizeof(names)) {
				strlcat(names, ", ...", sizeof(names));
				break;
			}
			if (n++ > 0)
				strlcat(names, ", ", sizeof(names));
			strlcat(names, k, sizeof(names));
		}
		a->cls = VC_NOKEY;
		snprintf(a->why, sizeof(a->why), "no key '%s' in the secret "
		    "(%s%s)", key, n ? "it has " : "it is empty", names);
		return;
	}
	a->cls = VC_NOTSTRING;
	if (!json_is_string(v)) {
		snprintf(a->why, sizeof(a->why), "the value of '%s' is not a "
		    "string but %s", key, json_kind(v));
		return;
	}
	len = json_string_length(v);
	if (len == 0)
		snprintf(a->why, sizeof(a->why), "the value of '%s' is an "
		    "empty string", key);
	else if (len > KEY_FILE_MAX)
		snprintf(a->why, sizeof(a->why), "the value of '%s' is longer "
		    "than %d KiB", key, KEY_FILE_MAX / 1024);
	else if (memchr(json_string_value(v), '\0', len) != NULL)
		snprintf(a->why, sizeof(a->why), "the value of '%s' contains a "
		    "NUL byte", key);
	else {
		a->cls = VC_OK;
		a->value = secret_strndup(json_string_value(v), len);
		a->len = len;
	}
}

/*
 * What Vault's answer (status and body) means for data.data[key].
 * Returns a->cls; a->value is a secret buffer on VC_OK, else a->why
 * holds the reason (never a byte of the value).
 */
int
vault_parse(long status, const char *body, size_t len, const char *key,
    struct vault_answer *a)
{
	json_t		*root = NULL, *errs;
	json_error_t	 jerr;
	char		 ve[256];

	memset(a, 0, sizeof(*a));
	a->cls = VC_UNEXPECTED;
	if (len > VAULT_BODY_MAX) {
		snprintf(a->why, sizeof(a->why), "unexpected answer from "
		    "Vault: HTTP %ld with a body larger than %d KiB", status,
		    VAULT_BODY_MAX / 1024);
		return a->cls;
	}
	if (len > 0 && body != NULL)
		root = json_loadb(body, len, JSON_ALLOW_NUL, &jerr);
	ve[0] = '\0';
	if (root != NULL)
		vault_errors(root, ve, sizeof(ve));
	if (status == 403) {
		a->cls = VC_DENIED;
		snprintf(a->why, sizeof(a->why), "permission denied (check the "
		    "token and its policy)");
	} else if (status == 503) {
		a->cls = VC_SEALED;
		snprintf(a->why, sizeof(a->why), "Vault is sealed");
	} else if (status == 412 || status == 429 ||
	    (status >= 500 && status <= 599)) {
		a->cls = VC_RETRY;
		snprintf(a->why, sizeof(a->why), "Vault answered HTTP %ld%s%s",
		    status, *ve ? ": " : "", ve);
	} else if ((status == 200 || status == 404) && root == NULL) {
		/* jansson's text may quote the body: not repeated */
		snprintf(a->why, sizeof(a->why), "unexpected answer from "
		    "Vault: HTTP %ld with %s", status, len == 0 ?
		    "an empty body" : "a body that is not JSON");
	} else if (status == 200 && json_is_object(root))
		vault_value(root, key, a);
	else if (status == 404 && json_is_object(root)) {
		json_t	*data = json_object_get(root, "data");

		errs = json_object_get(root, "errors");
		if (json_is_object(data) && vault_gone(data, a))
			;
		else if (json_is_array(errs)) {
			a->cls = VC_NOPATH;
			snprintf(a->why, sizeof(a->why), "no such path%s%s%s",
			    *ve ? " (Vault: " : "", ve, *ve ? ")" : "");
		} else
			snprintf(a->why, sizeof(a->why), "unexpected answer "
			    "from Vault: HTTP 404 without errors or metadata");
	} else
		snprintf(a->why, sizeof(a->why), "unexpected answer from "
		    "Vault: HTTP %ld%s%s", status, *ve ? ": " : "", ve);
	json_decref(root);
	return a->cls;
}

/* An outage may be bridged by a stale value; an answer may not. */
enum key_result
vault_class_result(enum vault_class c)
{
	switch (c) {
	case VC_OK:
		return KR_OK;
	case VC_SEALED:
	case VC_RETRY:
		return KR_OUTAGE;
	default:
		return KR_FAILED;
	}
}

/*
 * auth.client_token, auth.lease_duration and auth.renewable from an
 * answer; the token in a secret buffer.  -1 with why if not there.
 */
int
vault_parse_auth(const char *body, size_t len, char **token, int64_t *lease,
    int *renewable, char *why, size_t whylen)
{
	json_t		*root, *auth, *ct, *ld, *rn;
	json_error_t	 jerr;

	*token = NULL;
	if (body == NULL || len == 0 ||
	    (root = json_loadb(body, len, 0, &jerr)) == NULL) {
		snprintf(why, whylen, "unexpected answer: HTTP 200 with a "
		    "body that is not JSON");
		return -1;
	}
	auth = json_object_get(root, "auth");
	ct = json_object_get(auth, "client_token");
	ld = json_object_get(auth, "lease_duration");
	rn = json_object_get(auth, "renewable");
	if (!json_is_object(auth) || !json_is_string(ct) ||
	    !json_is_integer(ld) || json_integer_value(ld) < 0 ||
	    !json_is_boolean(rn)) {
		snprintf(why, whylen, "unexpected answer: HTTP 200 without "
		    "auth.client_token, auth.lease_duration and "
		    "auth.renewable");
		json_decref(root);
		return -1;
	}
	if (!vault_header_ok(json_string_value(ct))) {
		snprintf(why, whylen, "unexpected answer: auth.client_token "
		    "holds bytes a token cannot have");
		json_decref(root);
		return -1;
	}
	*token = secret_strndup(json_string_value(ct), json_string_length(ct));
	*lease = json_integer_value(ld);
	if (*lease > 10LL * 365 * 86400)	/* no timer overflows */
		*lease = 10LL * 365 * 86400;
	*renewable = json_is_true(rn);
	json_decref(root);
	return 0;
}
