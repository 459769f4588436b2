/*
 * fuzz_envelope.c - the envelope file parser (lib/envelope.c
 * envelope_decode), fed what a torn write, a full disk or a hand
 * edit could leave in the spool.
 *
 * The same bytes are also read as a spool file's trailer line
 * (msgfile_trailer_parse): what parses adds up to the file length
 * and encodes to the same bytes.
 *
 * Checked: what decodes is complete (an id that msgid_valid() takes,
 * every required field, at least one recipient); and when it encodes
 * again (values without CR), the encoding decodes to the same
 * envelope and encodes to the same bytes.
 */
#include "config.h"

#include <string.h>

#include "envelope.h"
#include "fuzz.h"

static int
streq(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	    (a != NULL && b != NULL && strcmp(a, b) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct envelope	 e, e2;
	const char	*err = NULL;
	char		*out = NULL, *out2 = NULL;
	size_t		 outlen = 0, outlen2 = 0;
	int		 i;

	if (size >= MSGFILE_TRAILER_LEN) {
		char		 t[MSGFILE_TRAILER_LEN + 1];
		uint64_t	 textlen, flen = size * 1000;
		size_t		 envlen;

		if (msgfile_trailer_parse((const char *)data, flen, &textlen,
		    &envlen) == 0) {
			FUZZ_CHECK(textlen + envlen + MSGFILE_TRAILER_LEN ==
			    flen);
			msgfile_trailer(t, textlen, envlen);
			FUZZ_CHECK(memcmp(t, data, MSGFILE_TRAILER_LEN) == 0);
		}
	}
	if (envelope_decode(&e, (const char *)data, size, &err) == -1) {
		FUZZ_CHECK(err != NULL);
		FUZZ_CHECK(e.nrcpt == 0 && e.rcpts == NULL && e.from == NULL);
		return 0;
	}
	FUZZ_CHECK(msgid_valid(e.id));
	FUZZ_CHECK(e.from != NULL && e.helo != NULL && e.client != NULL &&
	    e.body != NULL);
	FUZZ_CHECK(e.nrcpt > 0);
	for (i = 0; i < e.nrcpt; i++)
		FUZZ_CHECK(e.rcpts[i] != NULL && e.rcpts[i][0] != '\0');

	if (envelope_encode(&e, &out, &outlen) == 0) {
		FUZZ_CHECK(envelope_decode(&e2, out, outlen, &err) == 0);
		FUZZ_CHECK(strcmp(e.id, e2.id) == 0);
		FUZZ_CHECK(e.arrival == e2.arrival && e.size == e2.size);
		FUZZ_CHECK(e.attempts == e2.attempts &&
		    e.next_try == e2.next_try);
		FUZZ_CHECK(e.smtputf8 == e2.smtputf8);
		FUZZ_CHECK(streq(e.helo, e2.helo) &&
		    streq(e.client, e2.client) && streq(e.from, e2.from) &&
		    streq(e.body, e2.body));
		FUZZ_CHECK(e.nrcpt == e2.nrcpt);
		for (i = 0; i < e.nrcpt; i++) {
			FUZZ_CHECK(strcmp(e.rcpts[i], e2.rcpts[i]) == 0);
			FUZZ_CHECK(e.done[i] == e2.done[i]);
		}
		FUZZ_CHECK(envelope_encode(&e2, &out2, &outlen2) == 0);
		FUZZ_CHECK(outlen == outlen2 && memcmp(out, out2, outlen) == 0);
		envelope_clear(&e2);
	}
	free(out);
	free(out2);
	envelope_clear(&e);
	return 0;
}
