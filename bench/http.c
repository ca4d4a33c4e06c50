/* http.c: libcurl's multi socket interface on a libev loop (libcurl's "hiperfifo"
 * pattern): libcurl says which sockets to watch and when its timeout is due; the loop
 * tells it which socket is ready; finished transfers are read back after each step. */
#include "bench/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BENCH_POLL_TIMEOUT_MS 10000L

/* A socket libcurl asked us to watch. */
struct bench_http_sock {
	ev_io io;
	struct bench_http *h;
};

static void bench_http_finished(struct bench_http *h);

static void bench_http_act(struct bench_http *h, curl_socket_t fd, int what)
{
	int running;

	(void)curl_multi_socket_action(h->multi, fd, what, &running);
	bench_http_finished(h);
}

static void bench_http_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct bench_http_sock *s = w->data;

	(void)loop;
	bench_http_act(s->h, w->fd,
		       ((revents & EV_READ) ? CURL_CSELECT_IN : 0) |
			       ((revents & EV_WRITE) ? CURL_CSELECT_OUT : 0));
}

static void bench_http_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	bench_http_act(w->data, CURL_SOCKET_TIMEOUT, 0);
}

/* CURLMOPT_SOCKETFUNCTION: watch fd for what (or stop watching it). */
static int bench_http_sock_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *sockp)
{
	struct bench_http *h = userp;
	struct bench_http_sock *s = sockp;
	int events;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s != NULL) {
			ev_io_stop(h->loop, &s->io);
			free(s);
		}
		return 0;
	}
	if (s == NULL) {
		s = calloc(1, sizeof(*s));
		if (s == NULL)
			return -1;
		s->h = h;
		ev_init(&s->io, bench_http_io_cb);
		s->io.data = s;
		if (curl_multi_assign(h->multi, fd, s) != CURLM_OK) {
			free(s);
			return -1;
		}
	} else {
		ev_io_stop(h->loop, &s->io);
	}
	events = ((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
	ev_io_set(&s->io, fd, events);
	ev_io_start(h->loop, &s->io);
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: libcurl wants a step in ms milliseconds (-1: none). It must
 * not be stepped from inside this callback, so even 0 goes through the timer. */
static int bench_http_timer_set(CURLM *multi, long ms, void *userp)
{
	struct bench_http *h = userp;

	(void)multi;
	ev_timer_stop(h->loop, &h->timer);
	if (ms >= 0) {
		ev_timer_set(&h->timer, (double)ms / 1000.0, 0.0);
		ev_timer_start(h->loop, &h->timer);
	}
	return 0;
}

int bench_http_init(struct bench_http *h, struct ev_loop *loop, long maxconnects)
{
	memset(h, 0, sizeof(*h));
	h->loop = loop;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "bulwark-bench: libcurl does not initialise\n");
		return -1;
	}
	h->global = 1;
	h->multi = curl_multi_init();
	if (h->multi == NULL) {
		fprintf(stderr, "bulwark-bench: out of memory (libcurl multi handle)\n");
		return -1;
	}
	ev_init(&h->timer, bench_http_timer_cb);
	h->timer.data = h;
	if (curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, bench_http_sock_cb) != CURLM_OK ||
	    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h) != CURLM_OK ||
	    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, bench_http_timer_set) != CURLM_OK ||
	    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h) != CURLM_OK ||
	    curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, maxconnects) != CURLM_OK) {
		fprintf(stderr, "bulwark-bench: libcurl refuses the multi handle's options\n");
		return -1;
	}
	return 0;
}

void bench_http_free(struct bench_http *h)
{
	if (h->multi != NULL) {
		curl_multi_cleanup(h->multi); /* closes the sockets: REMOVE frees each watcher */
		ev_timer_stop(h->loop, &h->timer);
	}
	if (h->global)
		curl_global_cleanup();
	memset(h, 0, sizeof(*h));
}

/* ---------------------------------------------------------------- pollers */
static size_t bench_poll_body(char *data, size_t size, size_t n, void *arg)
{
	struct bench_poll *p = arg;

	if (p->body == 0 && n > 0)
		p->first = (unsigned char)data[0];
	p->body += size * n;
	return size * n;
}

/* The ETag header of the response, kept as sent (quotes included) when it fits and is
 * visible ASCII (it goes back in If-None-Match); else the response has none. */
static size_t bench_poll_header(char *data, size_t size, size_t n, void *arg)
{
	struct bench_poll *p = arg;
	size_t len = size * n, i = 5, j;

	if (len > 5 && strncasecmp(data, "etag:", 5) == 0) {
		while (i < len && (data[i] == ' ' || data[i] == '\t'))
			i++;
		while (len > i && (data[len - 1] == '\r' || data[len - 1] == '\n' ||
				   data[len - 1] == ' '))
			len--;
		for (j = i; j < len && data[j] > 0x20 && data[j] < 0x7f; j++)
			;
		if (len > i && j == len && len - i < sizeof(p->got_etag)) {
			memcpy(p->got_etag, data + i, len - i);
			p->got_etag[len - i] = '\0';
		}
	}
	return size * n;
}

int bench_poll_init(struct bench_http *h, struct bench_poll *p, const char *url,
		    int conditional, bench_poll_done_fn done, void *arg)
{
	memset(p, 0, sizeof(*p));
	p->h = h;
	p->conditional = conditional;
	p->done = done;
	p->arg = arg;
	p->easy = curl_easy_init();
	if (p->easy == NULL)
		return -1;
	if (curl_easy_setopt(p->easy, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(p->easy, CURLOPT_PRIVATE, p) != CURLE_OK ||
	    curl_easy_setopt(p->easy, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    /* straight to the replica: no proxy, nor its environment read at every poll */
	    curl_easy_setopt(p->easy, CURLOPT_PROXY, "") != CURLE_OK ||
	    curl_easy_setopt(p->easy, CURLOPT_TCP_NODELAY, 1L) != CURLE_OK ||
	    curl_easy_setopt(p->easy, CURLOPT_TIMEOUT_MS, BENCH_POLL_TIMEOUT_MS) != CURLE_OK ||
	    curl_easy_setopt(p->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1) !=
		    CURLE_OK ||
	    curl_easy_setopt(p->easy, CURLOPT_WRITEFUNCTION, bench_poll_body) != CURLE_OK ||
	    curl_easy_setopt(p->easy, CURLOPT_WRITEDATA, p) != CURLE_OK ||
	    curl_easy_setopt(p->easy, CURLOPT_HEADERFUNCTION, bench_poll_header) != CURLE_OK ||
	    curl_easy_setopt(p->easy, CURLOPT_HEADERDATA, p) != CURLE_OK) {
		bench_poll_free(p);
		return -1;
	}
	return 0;
}

void bench_poll_free(struct bench_poll *p)
{
	if (p->easy != NULL) {
		if (p->busy)
			curl_multi_remove_handle(p->h->multi, p->easy);
		curl_easy_cleanup(p->easy);
	}
	curl_slist_free_all(p->hdr);
	memset(p, 0, sizeof(*p));
}

int bench_poll_start(struct bench_poll *p)
{
	if (p->busy || p->easy == NULL)
		return -1;
	p->body = 0;
	p->first = -1;
	p->got_etag[0] = '\0';
	if (curl_multi_add_handle(p->h->multi, p->easy) != CURLM_OK)
		return -1;
	p->busy = 1;
	return 0;
}

/* After a 200 with a new ETag: the next conditional poll sends it. */
static int bench_poll_remember(struct bench_poll *p)
{
	char line[32 + BENCH_ETAG_MAX];
	struct curl_slist *hdr;

	if (strcmp(p->etag, p->got_etag) == 0)
		return 0;
	snprintf(line, sizeof(line), "If-None-Match: %s", p->got_etag);
	hdr = curl_slist_append(NULL, line);
	if (hdr == NULL)
		return -1;
	if (curl_easy_setopt(p->easy, CURLOPT_HTTPHEADER, hdr) != CURLE_OK) {
		curl_slist_free_all(hdr);
		return -1;
	}
	curl_slist_free_all(p->hdr);
	p->hdr = hdr;
	snprintf(p->etag, sizeof(p->etag), "%s", p->got_etag);
	return 0;
}

/* A poll ended with result res: what the bench counts. A 200 must carry a JSON
 * document and its ETag; a 304 only answers a conditional poll (it sent an ETag). */
static void bench_poll_end(struct bench_poll *p, CURLcode res)
{
	char err[96];
	long status = 0;
	int ok = 0, not_modified = 0;

	p->busy = 0;
	err[0] = '\0';
	if (res != CURLE_OK) {
		snprintf(err, sizeof(err), "%s", curl_easy_strerror(res));
	} else if (curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK) {
		snprintf(err, sizeof(err), "no HTTP status");
	} else if (status == 200) {
		if (p->body == 0 || p->first != '{')
			snprintf(err, sizeof(err), "200 without a JSON document (%zu bytes)", p->body);
		else if (p->got_etag[0] == '\0')
			snprintf(err, sizeof(err), "200 without an ETag (or one not visible ASCII "
						   "within %u bytes)", BENCH_ETAG_MAX - 1);
		else if (p->conditional && bench_poll_remember(p) != 0)
			snprintf(err, sizeof(err), "out of memory (If-None-Match)");
		else
			ok = 1;
	} else if (status == 304) {
		if (!p->conditional || p->etag[0] == '\0')
			snprintf(err, sizeof(err), "304 to a poll without If-None-Match");
		else
			ok = not_modified = 1;
	} else {
		snprintf(err, sizeof(err), "HTTP %ld", status);
	}
	p->done(p->arg, ok, not_modified, err);
}

/* Hand every finished transfer to its poller. Its callback may start the next poll:
 * the handle is out of the multi handle by then. */
static void bench_http_finished(struct bench_http *h)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(h->multi, &left)) != NULL) {
		struct bench_poll *p = NULL;
		CURL *easy = m->easy_handle;
		CURLcode res = m->data.result;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_multi_remove_handle(h->multi, easy); /* m is invalid from here */
		if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&p) == CURLE_OK && p != NULL)
			bench_poll_end(p, res);
	}
}

/* ---------------------------------------------------------------- one blocking GET */
static size_t bench_http_discard(char *data, size_t size, size_t n, void *arg)
{
	(void)data;
	(void)arg;
	return size * n;
}

long bench_http_get(const char *url, long timeout_ms, char *err, size_t errlen)
{
	CURL *e = curl_easy_init();
	long status = 0;
	CURLcode rc;

	if (e == NULL) {
		snprintf(err, errlen, "out of memory");
		return 0;
	}
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, bench_http_discard);
	rc = curl_easy_perform(e);
	if (rc != CURLE_OK)
		snprintf(err, errlen, "%s", curl_easy_strerror(rc));
	else if (curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
		snprintf(err, errlen, "no HTTP status");
	else
		snprintf(err, errlen, "HTTP %ld", status);
	curl_easy_cleanup(e);
	return rc == CURLE_OK ? status : 0;
}
