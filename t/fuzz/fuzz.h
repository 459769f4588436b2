/*
 * fuzz.h - what the fuzz targets in t/fuzz/ share.  Each target is one
 * LLVMFuzzerTestOneInput(): linked with libFuzzer (-fsanitize=fuzzer,
 * configure --enable-fuzz CC=clang, make fuzz-targets) it is fuzz_NAME;
 * linked with driver.c in any build it is replay_NAME, which make
 * check runs over the committed corpus t/fuzz/corpus/NAME/.
 *
 * A target checks what must hold of any input with FUZZ_CHECK(): a
 * failed check aborts, and the fuzzer keeps the input as a crash.
 */
#ifndef PETREL_FUZZ_H
#define PETREL_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_CHECK(c) do {						\
	if (!(c)) {							\
		fprintf(stderr, "%s:%d: fuzz check failed: %s\n",	\
		    __FILE__, __LINE__, #c);				\
		abort();						\
	}								\
} while (0)

#endif
