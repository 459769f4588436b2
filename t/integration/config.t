#!/bin/bash
# petreld -n: "configuration OK", or every error with file:line and the
# key's name, and exit status 1.
. "$(dirname "$0")/lib.sh"
plan 15

conf() { printf '%s\n' "$@" >"$T/c.conf"; }
check() { out=$("$PETRELD" -n -f "$T/c.conf" 2>&1); rc=$?; }

conf "[global]" "privsep = no" "spool_dir = $T/s" "[smtpd]" "listen = 127.0.0.1:2525"
check
is "$rc" 0 "a good file: exit 0"
is "$out" "configuration OK" "a good file: configuration OK"

conf "[global]" "privsep = no" "[smtpd]" "wrokers = 4"
check
is "$rc" 1 "unknown key: exit 1"
like "$out" "^$T/c.conf:4: \[smtpd\] unknown key 'wrokers'" "unknown key: file, line and key named"

conf "[global]" "privsep = no" "" "[smtpd]" "workers = many"
check
like "$out" "^$T/c.conf:5: \[smtpd\] workers = many: must be a number" "bad number: file:line and key"

conf "[global]" "privsep = no" "[queued]" "retry_interval = soon"
check
like "$out" "c.conf:4: \[queued\] retry_interval = soon: must be a duration" "bad duration named"

conf "[global]" "privsep = no" "[smtpd]" "max_message_size = 12Q"
check
like "$out" "c.conf:4: \[smtpd\] max_message_size = 12Q: must be a size" "bad size named"

conf "[global]" "privsep = maybe"
check
like "$out" "c.conf:2: \[global\] privsep = maybe: must be yes or no" "bad boolean named"

conf "[global]" "privsep = no" "[smtpd]" "relay_from = 10.0.0.0/33"
check
like "$out" "c.conf:4: \[smtpd\] relay_from = 10.0.0.0/33: must be a list of networks" "bad network named"

conf "[global]" "privsep = no" "[smtp]" "listen = 127.0.0.1:25"
check
like "$out" "c.conf:4: unknown section \[smtp\]" "unknown section named"

conf "[global]" "privsep = no" "this is not ini"
check
like "$out" "c.conf:3: syntax error" "syntax error with its line"

conf "[global]" "privsep = no" "[smtpd]" "max_recipients = 5000"
check
like "$out" "\[smtpd\] max_recipients: at most 1000" "max_recipients is capped at 1000"

conf "[global]" "privsep = no" "[smtpd]" "workers = 0" "timeout = x"
check
is "$(printf '%s\n' "$out" | wc -l)" 2 "every error is reported, not just the first"

"$PETRELD" -n -f "$T/does-not-exist.conf" >"$T/o" 2>&1
is "$?" 1 "missing file: exit 1"
like "$(cat "$T/o")" "does-not-exist.conf: cannot open: No such file" "missing file: named with the reason"
