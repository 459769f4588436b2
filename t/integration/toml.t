#!/bin/bash
# lib/toml.c through t/toml-decode against Python's tomllib: hundreds
# of hand-written documents, valid and invalid (strings and escapes,
# integers and floats in every form, date-times, arrays, inline tables,
# tables, arrays of tables, dotted keys and every redefinition rule,
# comments, CRLF), a few hundred random ones from a fixed seed, the
# places where TOML 1.0.0 and tomllib differ, and the line and column
# of errors.  tomlcheck.py does the work and prints the TAP.
. "$(dirname "$0")/lib.sh"
: "${TOMLDECODE:=$SRCDIR/build/dev/t/toml-decode}"
[ -x "$TOMLDECODE" ] || skip_all "no toml-decode at $TOMLDECODE"
"$PY" -c 'import tomllib' 2>/dev/null || skip_all "python3 has no tomllib (3.11 or later)"
"$PY" "$SRCDIR/t/integration/tomlcheck.py" "$TOMLDECODE"
