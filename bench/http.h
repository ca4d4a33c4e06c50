/* http.h: bulwark-bench's HTTP polls: libcurl's multi interface driven by the bench's
 * libev loop, one easy handle per logical client, connections kept alive and reused. */
#ifndef BULWARK_BENCH_HTTP_H
#define BULWARK_BENCH_HTTP_H

#include <curl/curl.h>
#include <ev.h>
#include <stddef.h>

#define BENCH_ETAG_MAX 128u

/* The multi handle on a loop. */
struct bench_http {
	struct ev_loop *loop;
	CURLM *multi;
	ev_timer timer;              /* libcurl's timeout (CURLMOPT_TIMERFUNCTION) */
	int global;                  /* curl_global_init succeeded (cleanup is due) */
};

/* How one poll ended: ok (not_modified: answered 304), or err says why ("HTTP 503", a
 * libcurl error, "200 without an ETag", ...). */
typedef void (*bench_poll_done_fn)(void *arg, int ok, int not_modified, const char *err);

/* One logical client's poller: GET url, again and again. */
struct bench_poll {
	struct bench_http *h;
	CURL *easy;
	struct curl_slist *hdr;      /* If-None-Match: etag (conditional, etag known) */
	int conditional;             /* send If-None-Match with the last ETag seen */
	int busy;                    /* a request is in flight */
	char etag[BENCH_ETAG_MAX];   /* the last ETag a 200 carried, as sent */
	char got_etag[BENCH_ETAG_MAX]; /* this response's ETag, "" if none */
	size_t body;                 /* bytes of this response's body */
	int first;                   /* its first byte, -1 if none */
	bench_poll_done_fn done;
	void *arg;
};

/* Set up h on loop; maxconnects: the connections kept open (one per client).
 * Returns 0, or -1 with a message on stderr. */
int bench_http_init(struct bench_http *h, struct ev_loop *loop, long maxconnects);
/* Free h (its pollers first). Safe on a zeroed struct. */
void bench_http_free(struct bench_http *h);

/* Prepare poller p of url (copied) on h. Returns 0 or -1 (out of memory). */
int bench_poll_init(struct bench_http *h, struct bench_poll *p, const char *url,
		    int conditional, bench_poll_done_fn done, void *arg);
/* Send p's next GET; done is called when it ends. Returns 0 or -1 (p busy, or libcurl
 * refused the handle). */
int bench_poll_start(struct bench_poll *p);
/* Free p (a request in flight is abandoned, done is not called). Safe on a zeroed p. */
void bench_poll_free(struct bench_poll *p);

/* One blocking GET of url (at most timeout_ms): its HTTP status, 0 if none came (err
 * says why). For waiting until a document is served. */
long bench_http_get(const char *url, long timeout_ms, char *err, size_t errlen);

#endif
