/* sys.c: what bulwark-bench learns from the system: the machine, process CPU time. */
#include "bench/bench.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

uint64_t bench_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void bench_machine_get(struct bench_machine *m)
{
	struct utsname u;
	char line[512];
	FILE *f;
	long n;

	memset(m, 0, sizeof(*m));
	snprintf(m->cpu, sizeof(m->cpu), "unknown");
	f = fopen("/proc/cpuinfo", "r");
	if (f != NULL) {
		while (fgets(line, sizeof(line), f) != NULL) {
			char *colon = strchr(line, ':');
			if (strncmp(line, "model name", 10) != 0 || colon == NULL)
				continue;
			colon++;
			while (*colon == ' ' || *colon == '\t')
				colon++;
			colon[strcspn(colon, "\n")] = '\0';
			snprintf(m->cpu, sizeof(m->cpu), "%s", colon);
			break;
		}
		fclose(f);
	}
	m->load1 = -1;
	f = fopen("/proc/loadavg", "r");
	if (f != NULL) {
		if (fscanf(f, "%lf", &m->load1) != 1)
			m->load1 = -1;
		fclose(f);
	}
	n = sysconf(_SC_NPROCESSORS_ONLN);
	m->cores = n > 0 ? (unsigned)n : 0;
	if (uname(&u) == 0) {
		snprintf(m->kernel, sizeof(m->kernel), "%s %s %s", u.sysname, u.release, u.machine);
		snprintf(m->host, sizeof(m->host), "%s", u.nodename);
	} else {
		snprintf(m->kernel, sizeof(m->kernel), "unknown");
		snprintf(m->host, sizeof(m->host), "unknown");
	}
}

/* The unsigned decimal at *p, after spaces; *p moves past it. 0, or -1 when there is
 * none (a sign included) or it overflows. */
static int bench_next_count(const char **p, unsigned long long *v)
{
	char *end;

	while (**p == ' ')
		(*p)++;
	if (!isdigit((unsigned char)**p))
		return -1;
	errno = 0;
	*v = strtoull(*p, &end, 10);
	if (errno != 0)
		return -1;
	*p = end;
	return 0;
}

int bench_parse_stat(const char *line, unsigned long long *ticks)
{
	/* After the command name's closing parenthesis: state (field 3), then fields 4..;
	 * utime is field 14 and stime field 15. */
	const char *p = strrchr(line, ')');
	unsigned long long v[2];
	int field = 2;

	if (p == NULL)
		return -1;
	p++;
	while (field < 15) {
		while (*p == ' ')
			p++;
		if (*p == '\0' || *p == '\n')
			return -1;
		field++;
		if (field >= 14) {
			if (bench_next_count(&p, &v[field - 14]) != 0)
				return -1;
		} else {
			while (*p != ' ' && *p != '\0')
				p++;
		}
	}
	*ticks = v[0] + v[1];
	return 0;
}

int bench_proc_cpu(pid_t pid, double *seconds)
{
	char path[64], line[1024];
	unsigned long long ticks;
	long hz = sysconf(_SC_CLK_TCK);
	FILE *f;
	int rc = -1;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	if (fgets(line, sizeof(line), f) != NULL && bench_parse_stat(line, &ticks) == 0 && hz > 0) {
		*seconds = (double)ticks / (double)hz;
		rc = 0;
	}
	fclose(f);
	return rc;
}

double bench_self_cpu(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
		return 0.0;
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int bench_parse_cpu_line(const char *line, struct bench_cpu_ticks *t)
{
	/* user nice system idle iowait irq softirq steal [guest guest_nice] */
	unsigned long long v[8];
	const char *p = line;

	if (strncmp(p, "cpu ", 4) != 0)
		return -1;
	p += 4;
	for (int i = 0; i < 8; i++)
		if (bench_next_count(&p, &v[i]) != 0)
			return -1;
	t->t[BENCH_CPU_BUSY] = v[0] + v[1] + v[2] + v[5] + v[6];
	t->t[BENCH_CPU_IDLE] = v[3];
	t->t[BENCH_CPU_IOWAIT] = v[4];
	t->t[BENCH_CPU_STEAL] = v[7];
	return 0;
}

int bench_machine_ticks(struct bench_cpu_ticks *t)
{
	char line[512];
	FILE *f = fopen("/proc/stat", "r");
	int rc = -1;

	if (f == NULL)
		return -1;
	if (fgets(line, sizeof(line), f) != NULL)
		rc = bench_parse_cpu_line(line, t);
	fclose(f);
	return rc;
}

int bench_cpu_shares(const struct bench_cpu_ticks *a, const struct bench_cpu_ticks *b,
		     double pct[BENCH_CPU_STATES])
{
	unsigned long long total = 0;

	for (int s = 0; s < BENCH_CPU_STATES; s++) {
		if (b->t[s] < a->t[s])
			return -1;
		total += b->t[s] - a->t[s];
	}
	if (total == 0)
		return -1;
	for (int s = 0; s < BENCH_CPU_STATES; s++)
		pct[s] = 100.0 * (double)(b->t[s] - a->t[s]) / (double)total;
	return 0;
}

void bench_utc_now(char out[32])
{
	time_t t = time(NULL);
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "unknown");
}

void bench_csv_field(FILE *f, const char *s)
{
	if (strpbrk(s, ",\"\n") == NULL) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}
