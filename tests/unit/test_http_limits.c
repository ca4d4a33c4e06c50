/* test_http_limits.c: the HTTP read plane under clients that hold resources: connection and
 * per-address limits, idle and slow-request timeouts, a reader that stalls mid-body, and
 * http_start's refusals. */
#include "tests/unit/test_http_harness.h"

/* A request that succeeds: the server is still serving. */
static void expect_serving(uint16_t port)
{
	struct h_resp r;

	h_request(port, "GET", "/v1/channels/" H_CHANNEL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq((const char *)r.body, H_DOC);
	h_resp_free(&r);
}

/* After a slot was freed: the server notices the close within a moment and serves again. */
static void expect_serving_soon(uint16_t port)
{
	double t0 = h_now();
	struct h_resp r;

	for (;;) {
		h_request(port, "GET", "/v1/channels/" H_CHANNEL, NULL, &r);
		if (r.status != 0 || h_now() - t0 > 3.0)
			break;
		h_resp_free(&r);
		usleep(20 * 1000);
	}
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq((const char *)r.body, H_DOC);
	h_resp_free(&r);
}

/* Open connections and make sure the server has accepted each one (a full request and
 * response on it, keep-alive), so that they count against the limits. */
static int open_held(uint16_t port)
{
	static const char req[] = "GET /v1/group HTTP/1.1\r\nHost: t\r\n\r\n";
	struct h_resp r;
	int fd = h_connect(port);

	h_send(fd, req, sizeof(req) - 1);
	h_read(fd, &r, 0);
	ck_assert_int_eq(r.status, 200);
	h_resp_free(&r);
	return fd;
}

/* A connection over a limit: accepted by the kernel, then closed by the server without
 * an answer. */
static void expect_refused(uint16_t port)
{
	static const char req[] = "GET /v1/group HTTP/1.1\r\nHost: t\r\n\r\n";
	struct h_resp r;
	int fd = h_connect(port);

	send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL);
	h_read(fd, &r, 0);
	ck_assert_int_eq(r.status, 0);
	h_resp_free(&r);
	close(fd);
}

START_TEST(connection_limit)
{
	struct h_server s;
	struct http_config cfg;
	int held[4];

	h_config(&cfg);
	cfg.max_connections = 4;
	cfg.max_per_ip = 0;
	h_start(&s, &cfg);
	for (int i = 0; i < 4; i++)
		held[i] = open_held(s.port);
	for (int i = 0; i < 3; i++)
		expect_refused(s.port);
	/* The held connections still work, and the refusals were counted. */
	{
		static const char req[] = "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n";
		struct h_resp r;
		h_send(held[0], req, sizeof(req) - 1);
		h_read(held[0], &r, 0);
		ck_assert_int_eq(r.status, 200);
		ck_assert_ptr_nonnull(strstr((const char *)r.body,
					     "\nbulwark_http_connections_refused_total 3\n"));
		ck_assert_ptr_nonnull(strstr((const char *)r.body, "\nbulwark_http_connections 4\n"));
		h_resp_free(&r);
	}
	/* Freeing one slot lets a new client in. */
	close(held[3]);
	expect_serving_soon(s.port);
	for (int i = 0; i < 3; i++)
		close(held[i]);
	h_stop(&s);
}
END_TEST

START_TEST(per_ip_limit)
{
	struct h_server s;
	struct http_config cfg;
	int held[2];

	h_config(&cfg);
	cfg.max_per_ip = 2;
	h_start(&s, &cfg);
	for (int i = 0; i < 2; i++)
		held[i] = open_held(s.port);
	expect_refused(s.port);
	close(held[0]);
	expect_serving_soon(s.port);
	close(held[1]);
	h_stop(&s);
}
END_TEST

START_TEST(idle_timeout)
{
	struct h_server s;
	struct http_config cfg;

	h_config(&cfg);
	cfg.timeout_s = 1;
	h_start(&s, &cfg);

	/* A connection that sends nothing. */
	double t0 = h_now();
	int idle = h_connect(s.port);
	/* One that sends half a request head and stalls (slowloris). */
	int slow = h_connect(s.port);
	h_send(slow, "GET /v1/group HTTP/1.1\r\nHost: t\r\n", 33);
	/* One that finished a request and keeps the connection open. */
	int kept = open_held(s.port);

	ck_assert(!h_closed_within(idle, 0.5));
	ck_assert(h_closed_within(idle, 3.0));
	ck_assert(h_closed_within(slow, 1.0));
	ck_assert(h_closed_within(kept, 1.0));
	double dt = h_now() - t0;
	ck_assert_msg(dt >= 0.9 && dt < 4.0, "closed after %.2f s", dt);
	close(idle);
	close(slow);
	close(kept);
	expect_serving(s.port);
	h_stop(&s);
}
END_TEST

/* A client that asks for an 8 MiB chunk and stops reading holds a connection (until the
 * timeout) but no copy of the body: the body stays the source's, and is released when
 * the connection is dropped. */
START_TEST(stalled_reader)
{
	static const char req[] = "GET /v1/chunks/" H_BIG_HEX " HTTP/1.1\r\nHost: t\r\n\r\n";
	struct h_server s;
	struct http_config cfg;
	int buf = 4096;

	h_config(&cfg);
	cfg.timeout_s = 1;
	h_start(&s, &cfg);
	int fd = h_connect(s.port);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	h_send(fd, req, sizeof(req) - 1);
	ck_assert_int_eq(h_wait_lent(&s.fake, 1, 3.0), 1); /* the body is in flight */
	usleep(200 * 1000);
	ck_assert_int_eq(atomic_load(&s.fake.lent), 1); /* and stays out while stalled */
	expect_serving(s.port);
	/* The stalled connection is timed out and its body released. */
	ck_assert_int_eq(h_wait_lent(&s.fake, 0, 4.0), 0);
	close(fd);
	h_stop(&s);
}
END_TEST

/* http_stop with a body still in flight releases it. */
START_TEST(stop_releases)
{
	static const char req[] = "GET /v1/chunks/" H_BIG_HEX " HTTP/1.1\r\nHost: t\r\n\r\n";
	struct h_server s;
	struct http_config cfg;

	h_config(&cfg);
	h_start(&s, &cfg);
	int fd = h_connect(s.port);
	h_send(fd, req, sizeof(req) - 1);
	ck_assert_int_eq(h_wait_lent(&s.fake, 1, 3.0), 1);
	h_stop(&s); /* asserts lent == 0 */
	close(fd);
}
END_TEST

static int dummy_channel(void *ctx, const char *name, struct http_body *out)
{
	return HTTP_ERR_NOT_FOUND;
}

START_TEST(start_refusals)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct h_server s;
	struct http_config cfg;
	struct http_source src = {NULL, h_src_channel, h_src_chunk, h_src_group, h_src_metrics};
	char err[256];

	/* A missing callback. */
	struct http_source partial = {NULL, dummy_channel, NULL, h_src_group, h_src_metrics};
	h_config(&cfg);
	ck_assert_ptr_null(http_start(loop, &cfg, &partial, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "callback"));
	/* Bad limits. */
	cfg.max_connections = 0;
	ck_assert_ptr_null(http_start(loop, &cfg, &src, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "bad config"));
	/* A host that does not resolve. */
	h_config(&cfg);
	cfg.host = "no-such-host.invalid";
	ck_assert_ptr_null(http_start(loop, &cfg, &src, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "no-such-host.invalid"));
	/* A port in use. */
	h_config(&cfg);
	h_start(&s, &cfg);
	cfg.port = s.port;
	ck_assert_ptr_null(http_start(loop, &cfg, &src, err, sizeof(err)));
	ck_assert_msg(strstr(err, "cannot listen") != NULL, "%s", err);
	expect_serving(s.port);
	h_stop(&s);
	/* No room for the reason is fine too. */
	cfg.timeout_s = 0;
	ck_assert_ptr_null(http_start(loop, &cfg, &src, NULL, 0));
	ev_loop_destroy(loop);
	http_stop(NULL);
}
END_TEST

/* An IPv6 listen address works like IPv4 (checked where the host has IPv6 loopback). */
START_TEST(ipv6_listen)
{
	static const char req[] = "GET /v1/group HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	struct sockaddr_in6 a;
	struct h_server s;
	struct http_config cfg;
	struct h_resp r;
	int probe = socket(AF_INET6, SOCK_STREAM, 0);

	memset(&a, 0, sizeof(a));
	a.sin6_family = AF_INET6;
	a.sin6_addr = in6addr_loopback;
	if (probe < 0 || bind(probe, (struct sockaddr *)&a, sizeof(a)) != 0) {
		if (probe >= 0)
			close(probe);
		return; /* no IPv6 loopback on this host */
	}
	close(probe);
	h_config(&cfg);
	cfg.host = "::1";
	h_start(&s, &cfg);
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	a.sin6_port = htons(s.port);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	h_send(fd, req, sizeof(req) - 1);
	h_read(fd, &r, 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq((const char *)r.body, H_GROUP_DOC);
	h_resp_free(&r);
	close(fd);
	h_stop(&s);
}
END_TEST

static Suite *http_limits_suite(void)
{
	Suite *s = suite_create("http_limits");
	TCase *tc = tcase_create("limits");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, connection_limit);
	tcase_add_test(tc, per_ip_limit);
	tcase_add_test(tc, idle_timeout);
	tcase_add_test(tc, stalled_reader);
	tcase_add_test(tc, stop_releases);
	tcase_add_test(tc, start_refusals);
	tcase_add_test(tc, ipv6_listen);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(http_limits_suite)
