#!/usr/bin/python3
"""sendmsg.py HOST PORT FROM TO[,TO...] MSGID [SIZE] [OPTION...] - send one
message, for deliverd's tests.  SIZE pads the body with 76-octet lines up
to about that many bytes (K or M suffix).  OPTIONs: 8bit (an 8-bit body,
BODY=8BITMIME), smtputf8 (MAIL FROM ... SMTPUTF8).  Exits 0 when the
message was accepted for every recipient, 1 otherwise (the refusal on
stderr)."""
import smtplib
import sys

host, port, sender, rcpts, msgid = sys.argv[1:6]
size = sys.argv[6] if len(sys.argv) > 6 else "0"
opts = sys.argv[7:]
mult = {"K": 1024, "M": 1024 * 1024}.get(size[-1:], 1)
size = int(size.rstrip("KM")) * mult

head = "From: <%s>\r\nTo: <%s>\r\nSubject: test\r\nMessage-ID: <%s@test>\r\n" % (
    sender, rcpts.split(",")[0], msgid)
body = "h\u00e9llo 8-bit text\r\n" if "8bit" in opts else "hello\r\n"
msg = (head + "\r\n" + body).encode("utf-8")
line = b"x" * 74 + b"\r\n"
if size > len(msg):
    msg += line * ((size - len(msg)) // len(line))

mail_options = []
if "8bit" in opts:
    mail_options.append("BODY=8BITMIME")
if "smtputf8" in opts:
    mail_options.append("SMTPUTF8")
try:
    s = smtplib.SMTP(host, int(port), timeout=120)
    s.ehlo("client.test")
    refused = s.sendmail(sender, rcpts.split(","), msg, mail_options)
    s.quit()
except (smtplib.SMTPException, OSError) as e:
    print("sendmsg: %s" % e, file=sys.stderr)
    sys.exit(1)
if refused:
    print("sendmsg: refused %r" % refused, file=sys.stderr)
    sys.exit(1)
