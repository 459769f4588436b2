/*
 * test_util.c - durations, sizes, host:port, networks.
 */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>

#include "util.h"

static int64_t
dur(const char *s)
{
	int64_t	 v = -12345;

	cr_assert_eq(parse_duration(s, &v), 0, "parse_duration(\"%s\")", s);
	return v;
}

static void
dur_bad(const char *s)
{
	int64_t	 v = -12345;

	cr_assert_eq(parse_duration(s, &v), -1,
	    "parse_duration(\"%s\") should fail", s);
	cr_assert_eq(v, -12345, "output touched on failure for \"%s\"", s);
}

Test(util, duration_units)
{
	cr_assert_eq(dur("90"), 90);
	cr_assert_eq(dur("90s"), 90);
	cr_assert_eq(dur("20m"), 1200);
	cr_assert_eq(dur("8h"), 8 * 3600);
	cr_assert_eq(dur("7d"), 604800);
	cr_assert_eq(dur("1w"), 604800);
	cr_assert_eq(dur("0"), 0);
	cr_assert_eq(dur("20M"), 1200);
}

Test(util, duration_words)
{
	cr_assert_eq(dur("5 min"), 300);
	cr_assert_eq(dur("2 hours"), 7200);
	cr_assert_eq(dur("1 day"), 86400);
	cr_assert_eq(dur("30 seconds"), 30);
	cr_assert_eq(dur("2 weeks"), 2 * 604800);
}

Test(util, duration_compound)
{
	cr_assert_eq(dur("1h 30m"), 5400);
	cr_assert_eq(dur("1h30m"), 5400);
	cr_assert_eq(dur("1d 2h 3m 4s"), 86400 + 7200 + 180 + 4);
	cr_assert_eq(dur("  90s  "), 90);
}

Test(util, duration_bad)
{
	dur_bad("");
	dur_bad("   ");
	dur_bad("x");
	dur_bad("5 parsecs");
	dur_bad("-1");
	dur_bad("m");
	dur_bad("10 minutesandmore");
	dur_bad("1.5h");
	dur_bad("99999999999999999999");
	/* each term fits, the sum does not */
	dur_bad("15000000000000w 15000000000000w");
	dur_bad("15250284452471w 87h 1808s");
	dur_bad("9223372036854775807");
}

Test(util, duration_limits)
{
	/* the largest number taken, in the largest unit */
	cr_assert_eq(dur("15250284452471w"), 15250284452471LL * 604800);
	/* a sum of exactly INT64_MAX */
	cr_assert_eq(dur("15250284452471w 87h 1807s"), INT64_MAX);
}

static uint64_t
size(const char *s)
{
	uint64_t v = 12345;

	cr_assert_eq(parse_size(s, &v), 0, "parse_size(\"%s\")", s);
	return v;
}

static void
size_bad(const char *s)
{
	uint64_t v = 12345;

	cr_assert_eq(parse_size(s, &v), -1, "parse_size(\"%s\") should fail",
	    s);
	cr_assert_eq(v, 12345);
}

Test(util, size)
{
	cr_assert_eq(size("35M"), 35ULL * 1024 * 1024);
	cr_assert_eq(size("512k"), 512ULL * 1024);
	cr_assert_eq(size("512K"), 512ULL * 1024);
	cr_assert_eq(size("1G"), 1024ULL * 1024 * 1024);
	cr_assert_eq(size("1000"), 1000);
	cr_assert_eq(size("10MB"), 10ULL * 1024 * 1024);
	cr_assert_eq(size("10 M"), 10ULL * 1024 * 1024);
	cr_assert_eq(size("0"), 0);
}

Test(util, size_bad)
{
	size_bad("12Q");
	size_bad("");
	size_bad("M");
	size_bad("-1");
	size_bad("10MBs");
	size_bad("10MX");
	size_bad("99999999999999999999");
	size_bad("99999999999999999G");
}

static void
hostport(const char *s, int defport, int family, const char *addr,
    int port)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sl = 0;
	char			 buf[INET6_ADDRSTRLEN];

	cr_assert_eq(parse_hostport(s, defport, &ss, &sl), 0,
	    "parse_hostport(\"%s\")", s);
	cr_assert_eq(ss.ss_family, family, "family of \"%s\"", s);
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		cr_assert_eq(sl, sizeof(*sin));
		cr_assert_eq(ntohs(sin->sin_port), port);
		inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf));
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		cr_assert_eq(sl, sizeof(*sin6));
		cr_assert_eq(ntohs(sin6->sin6_port), port);
		inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf));
	}
	cr_assert_str_eq(buf, addr, "address of \"%s\"", s);
}

static void
hostport_bad(const char *s, int defport)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sl = 0;

	cr_assert_eq(parse_hostport(s, defport, &ss, &sl), -1,
	    "parse_hostport(\"%s\") should fail", s);
}

Test(util, hostport)
{
	hostport("127.0.0.1:25", 0, AF_INET, "127.0.0.1", 25);
	hostport("[::1]:2525", 0, AF_INET6, "::1", 2525);
	hostport("[IPv6:::1]:25", 0, AF_INET6, "::1", 25);
	hostport("[ipv6:2001:db8::5]:587", 0, AF_INET6, "2001:db8::5", 587);
	hostport("0.0.0.0", 25, AF_INET, "0.0.0.0", 25);
	hostport("[::]", 53, AF_INET6, "::", 53);
	hostport("*:2525", 25, AF_INET, "0.0.0.0", 2525);
	hostport("10.0.0.1:65535", 25, AF_INET, "10.0.0.1", 65535);
}

Test(util, hostport_bad)
{
	hostport_bad("::1:25", 25);
	hostport_bad("::1", 25);
	hostport_bad("host:99999", 25);
	hostport_bad("127.0.0.1:99999", 25);
	hostport_bad("1.2.3.4:", 25);
	hostport_bad("1.2.3.4:0", 25);
	hostport_bad("1.2.3.4:25x", 25);
	hostport_bad("mail.example.com:25", 25);
	hostport_bad("[::1", 25);
	hostport_bad("[::1]25", 25);
	hostport_bad("", 25);
	hostport_bad("256.1.1.1:25", 25);
}

static void
mk4(struct sockaddr_storage *ss, const char *a)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	sin->sin_family = AF_INET;
	cr_assert_eq(inet_pton(AF_INET, a, &sin->sin_addr), 1);
}

static void
mk6(struct sockaddr_storage *ss, const char *a)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	sin6->sin6_family = AF_INET6;
	cr_assert_eq(inet_pton(AF_INET6, a, &sin6->sin6_addr), 1);
}

static int
match4(const struct netmask *nm, const char *a)
{
	struct sockaddr_storage ss;

	mk4(&ss, a);
	return netmask_match(nm, (struct sockaddr *)&ss);
}

static int
match6(const struct netmask *nm, const char *a)
{
	struct sockaddr_storage ss;

	mk6(&ss, a);
	return netmask_match(nm, (struct sockaddr *)&ss);
}

Test(util, netmask_v4)
{
	struct netmask	 nm;

	cr_assert_eq(parse_netmask("127.0.0.0/8", &nm), 0);
	cr_assert_eq(nm.family, AF_INET);
	cr_assert_eq(nm.bits, 8);
	cr_assert_eq(match4(&nm, "127.1.2.3"), 1);
	cr_assert_eq(match4(&nm, "127.0.0.1"), 1);
	cr_assert_eq(match4(&nm, "128.0.0.1"), 0);
	cr_assert_eq(match4(&nm, "126.255.255.255"), 0);
	/* an IPv4 network never matches a plain IPv6 address */
	cr_assert_eq(match6(&nm, "::1"), 0);

	cr_assert_eq(parse_netmask("10.1.2.0/23", &nm), 0);
	cr_assert_eq(match4(&nm, "10.1.3.255"), 1);
	cr_assert_eq(match4(&nm, "10.1.2.0"), 1);
	cr_assert_eq(match4(&nm, "10.1.4.0"), 0);
	cr_assert_eq(match4(&nm, "10.1.1.255"), 0);

	/* a bare address is a host */
	cr_assert_eq(parse_netmask("192.0.2.7", &nm), 0);
	cr_assert_eq(nm.bits, 32);
	cr_assert_eq(match4(&nm, "192.0.2.7"), 1);
	cr_assert_eq(match4(&nm, "192.0.2.6"), 0);
}

Test(util, netmask_v6)
{
	struct netmask	 nm;

	cr_assert_eq(parse_netmask("::1", &nm), 0);
	cr_assert_eq(nm.family, AF_INET6);
	cr_assert_eq(nm.bits, 128);
	cr_assert_eq(match6(&nm, "::1"), 1);
	cr_assert_eq(match6(&nm, "::2"), 0);
	cr_assert_eq(match6(&nm, "::"), 0);
	cr_assert_eq(match4(&nm, "127.0.0.1"), 0);

	cr_assert_eq(parse_netmask("2001:db8::/32", &nm), 0);
	cr_assert_eq(match6(&nm, "2001:db8:ffff::1"), 1);
	cr_assert_eq(match6(&nm, "2001:db9::1"), 0);

	cr_assert_eq(parse_netmask("fe80::/10", &nm), 0);
	cr_assert_eq(match6(&nm, "febf::1"), 1);
	cr_assert_eq(match6(&nm, "fec0::1"), 0);
}

Test(util, netmask_v4_mapped)
{
	struct netmask	 nm;

	cr_assert_eq(parse_netmask("127.0.0.0/8", &nm), 0);
	cr_assert_eq(match6(&nm, "::ffff:127.0.0.1"), 1);
	cr_assert_eq(match6(&nm, "::ffff:128.0.0.1"), 0);
	/* not mapped: the last 32 bits alone do not count */
	cr_assert_eq(match6(&nm, "::127.0.0.1"), 0);
	cr_assert_eq(match6(&nm, "2001:db8::7f00:1"), 0);
}

Test(util, netmask_zero)
{
	struct netmask	 nm;

	cr_assert_eq(parse_netmask("0.0.0.0/0", &nm), 0);
	cr_assert_eq(nm.bits, 0);
	cr_assert_eq(match4(&nm, "1.2.3.4"), 1);
	cr_assert_eq(match4(&nm, "255.255.255.255"), 1);
	cr_assert_eq(match6(&nm, "::ffff:8.8.8.8"), 1);
	cr_assert_eq(match6(&nm, "2001:db8::1"), 0);

	cr_assert_eq(parse_netmask("::/0", &nm), 0);
	cr_assert_eq(match6(&nm, "2001:db8::1"), 1);
	cr_assert_eq(match6(&nm, "::"), 1);
	cr_assert_eq(match4(&nm, "1.2.3.4"), 0);
}

Test(util, netmask_bad)
{
	struct netmask	 nm;

	cr_assert_eq(parse_netmask("127.0.0.0/33", &nm), -1);
	cr_assert_eq(parse_netmask("::/129", &nm), -1);
	cr_assert_eq(parse_netmask("127.0.0.0/-1", &nm), -1);
	cr_assert_eq(parse_netmask("127.0.0.0/", &nm), -1);
	cr_assert_eq(parse_netmask("127.0.0.0/8x", &nm), -1);
	cr_assert_eq(parse_netmask("localhost", &nm), -1);
	cr_assert_eq(parse_netmask("", &nm), -1);
	cr_assert_eq(parse_netmask(
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", &nm), -1);
}

Test(util, sa_to_hostport)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sl;
	char			 buf[64];

	cr_assert_eq(parse_hostport("127.0.0.1:25", 0, &ss, &sl), 0);
	cr_assert_str_eq(sa_to_hostport((struct sockaddr *)&ss, buf,
	    sizeof(buf)), "127.0.0.1:25");
	cr_assert_str_eq(sa_to_text((struct sockaddr *)&ss, buf,
	    sizeof(buf)), "127.0.0.1");

	cr_assert_eq(parse_hostport("[::1]:2525", 0, &ss, &sl), 0);
	cr_assert_str_eq(sa_to_hostport((struct sockaddr *)&ss, buf,
	    sizeof(buf)), "[::1]:2525");

	cr_assert_eq(parse_hostport("[2001:db8::1]", 587, &ss, &sl), 0);
	cr_assert_str_eq(sa_to_hostport((struct sockaddr *)&ss, buf,
	    sizeof(buf)), "[2001:db8::1]:587");

	/* a truncated buffer is still NUL terminated */
	cr_assert_eq(parse_hostport("192.168.100.200:65535", 0, &ss, &sl), 0);
	sa_to_hostport((struct sockaddr *)&ss, buf, 8);
	cr_assert_str_eq(buf, "192.168");

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	cr_assert_str_eq(sa_to_text((struct sockaddr *)&ss, buf,
	    sizeof(buf)), "local");
}

Test(util, sa_equal)
{
	struct sockaddr_storage	 a, b;
	socklen_t		 sl;

	cr_assert_eq(parse_hostport("127.0.0.1:25", 0, &a, &sl), 0);
	cr_assert_eq(parse_hostport("127.0.0.1:25", 0, &b, &sl), 0);
	cr_assert(sa_equal((struct sockaddr *)&a, (struct sockaddr *)&b));
	cr_assert_eq(parse_hostport("127.0.0.1:26", 0, &b, &sl), 0);
	cr_assert_not(sa_equal((struct sockaddr *)&a, (struct sockaddr *)&b));
	cr_assert_eq(parse_hostport("[::ffff:127.0.0.1]:25", 0, &b, &sl), 0);
	cr_assert_not(sa_equal((struct sockaddr *)&a, (struct sockaddr *)&b));
	cr_assert_eq(parse_hostport("[::1]:25", 0, &a, &sl), 0);
	cr_assert_eq(parse_hostport("[IPv6:0::1]:25", 0, &b, &sl), 0);
	cr_assert(sa_equal((struct sockaddr *)&a, (struct sockaddr *)&b));
}

Test(util, str_trim)
{
	char	 a[] = "  \t hello world \r\n";
	char	 b[] = "   ";
	char	 c[] = "x";

	cr_assert_str_eq(str_trim(a), "hello world");
	cr_assert_str_eq(str_trim(b), "");
	cr_assert_str_eq(str_trim(c), "x");
}

/* --- log fields: what a peer sends cannot forge another key=value --- */

#include "log.h"

Test(log, quote_escapes_quotes_and_controls)
{
	char	 buf[256];

	cr_assert_str_eq(log_quote("250 ok", buf, sizeof(buf)), "250 ok");
	cr_assert_str_eq(log_quote("x\" event=Delivery rcpt=<a>", buf,
	    sizeof(buf)), "x\\\" event=Delivery rcpt=<a>");
	cr_assert_str_eq(log_quote("a\\b\r\nc\x01", buf, sizeof(buf)),
	    "a\\\\b\\x0d\\x0ac\\x01");
	/* UTF-8 passes */
	cr_assert_str_eq(log_quote("j\xc3\xb6rg", buf, sizeof(buf)),
	    "j\xc3\xb6rg");
	/* truncated, never overflowing, never half an escape */
	cr_assert_str_eq(log_quote("\x01\x02", buf, 7), "\\x01");
}

Test(log, token_escapes_field_separators)
{
	char	 buf[256];

	cr_assert_str_eq(log_token("\"a> event=Delivery x=<\"@example.net",
	    buf, sizeof(buf)),
	    "\\\"a\\x3e\\x20event\\x3dDelivery\\x20x\\x3d\\x3c\\\"@example.net");
	cr_assert_str_eq(log_token("mx.example.net[192.0.2.1]:25", buf,
	    sizeof(buf)), "mx.example.net[192.0.2.1]:25");
}
