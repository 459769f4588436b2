/*
 * sitename.c - the name of a site: the MX hosts of a routing domain
 * rolled up the way KumoMTA does, so that domains served by the same
 * hosts share connections (and, with the policy, shaping).
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "log.h"
#include "util.h"

static void
cat(char *out, size_t outlen, const char *s)
{
	strlcat(out, s, outlen);
}

/*
 * KumoMTA's site_name (factor_names() in crates/mailexchanger): each
 * name is lower-cased, ":PORT" is appended when the routing domain
 * has one, and it is split into labels, right to left.  For every
 * label position the distinct labels found there, in the order the
 * names come, become "label" or "(l1|l2|...)", with "?" after it when
 * some name is too short to reach that position; the positions are
 * joined with "." left to right.  ["mta5.am0.yahoodns.net",
 * "mta6.am0.yahoodns.net"] gives "(mta5|mta6).am0.yahoodns.net".
 */
void
dns_site_name(char **names, int n, int port, char *out, size_t outlen)
{
	struct split {
		char	 buf[DNS_KEY_MAX];
		char	*lab[DNS_LABELS_MAX];	/* right to left */
		int	 nlab;
	}		*sp;
	const char	**col;
	char		*p, *start;
	int		 i, j, k, c, ncol = 0, ns = 0, nel, has_q, real;

	out[0] = '\0';
	sp = xcalloc(n, sizeof(*sp));
	col = xcalloc(n + 1, sizeof(*col));
	for (i = 0; i < n; i++) {
		struct split	*s = &sp[ns];
		char		*l[DNS_LABELS_MAX];
		int		 nl = 0, bad = 0;

		if (port > 0)
			snprintf(s->buf, sizeof(s->buf), "%s:%d", names[i],
			    port);
		else
			strlcpy(s->buf, names[i], sizeof(s->buf));
		for (p = s->buf; *p != '\0'; p++)
			*p = tolower((unsigned char)*p);
		if (p > s->buf && p[-1] == '.')
			p[-1] = '\0';
		/* split on dots that are not escaped */
		for (start = p = s->buf; s->buf[0] != '\0'; p++) {
			if (*p == '\\' && p[1] != '\0') {
				p++;
				continue;
			}
			if (*p != '.' && *p != '\0')
				continue;
			if (p == start || nl == DNS_LABELS_MAX) {
				bad = 1;	/* empty label: not a name */
				break;
			}
			l[nl++] = start;
			if (*p == '\0')
				break;
			*p = '\0';
			start = p + 1;
		}
		if (bad)
			continue;
		for (j = 0; j < nl; j++)
			s->lab[j] = l[nl - 1 - j];
		s->nlab = nl;
		if (nl > ncol)
			ncol = nl;
		ns++;
	}
	for (c = ncol - 1; c >= 0; c--) {
		/* the distinct labels at position c, first seen first */
		nel = 0;
		has_q = 0;
		for (i = 0; i < ns; i++) {
			const char	*f = c < sp[i].nlab ? sp[i].lab[c] : "?";

			for (k = 0; k < nel; k++)
				if (strcmp(col[k], f) == 0)
					break;
			if (k == nel)
				col[nel++] = f;
		}
		real = 0;
		for (k = 0; k < nel; k++) {
			if (strcmp(col[k], "?") == 0)
				has_q = 1;
			else
				col[real++] = col[k];
		}
		if (c != ncol - 1)
			cat(out, outlen, ".");
		if (real == 1)
			cat(out, outlen, col[0]);
		else {
			cat(out, outlen, "(");
			for (k = 0; k < real; k++) {
				if (k > 0)
					cat(out, outlen, "|");
				cat(out, outlen, col[k]);
			}
			cat(out, outlen, ")");
		}
		if (has_q)
			cat(out, outlen, "?");
	}
	free(col);
	free(sp);
}
