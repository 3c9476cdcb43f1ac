/* SPDX-License-Identifier: MIT */
/*
 * Workloads for migration and snapshot tests: `dirty` rewrites a buffer at a steady rate, and
 * `counter` proves, ten times a second, that the buffer and the counting process still hold what
 * was written. The format of both is specified in guests/linux/README.md.
 *
 * The buffer is a MAP_SHARED anonymous mapping owned by the shell, so a writer running in the
 * background and a counter in the foreground (or the other way round) see the same pages.
 * Layout: one control page, then `npages` data pages of 4 KiB. The writer sweeps the data pages in
 * order; sweep number g (1, 2, ...) writes into page p the content page_word(p, g, i), which
 * starts with the words p and g. So at any moment pages [0, cursor) hold sweep `gen` and pages
 * [cursor, npages) sweep gen-1 (sweep 0 = never written = zeros). A page that missed a write (not
 * copied by a migration, restored from an old snapshot) or was corrupted breaks that pattern.
 */
#ifndef SKIFF_WORKLOAD_H
#define SKIFF_WORKLOAD_H

#include "skiff.h"

#define PAGE_BYTES 4096u
#define PAGE_WORDS (PAGE_BYTES / 4)
#define DBUF_MAGIC 0x42444b53u /* "SKDB" */
#define COUNTER_PERIOD_MS 100
/* data pages whose every word counter re-verifies per line (the headers of all pages are checked
 * on every line); bounded so a counter line stays cheap on a slow vCPU */
#define COUNTER_FULL_PAGES 32
#define FNV_BASIS 0x811c9dc5u
#define FNV_PRIME 16777619u

struct dbuf_ctl {
	u32 magic;
	u32 npages;
	volatile u32 seq;    /* odd while the writer is changing a page and gen/cursor */
	volatile u32 hold;   /* set by counter: the writer pauses between pages */
	volatile u32 gen;    /* sweep being written, >= 1 */
	volatile u32 cursor; /* next page of sweep `gen` */
	volatile int writer; /* pid of the running writer, 0 if none */
	volatile u32 stop;   /* `dirty stop` asks a background writer to end */
	volatile u32 lost;   /* times the writer found gen/cursor not where it left them */
};

static struct dbuf_ctl *dbuf;

static inline void fence(void) { __asm__ volatile("fence rw, rw" ::: "memory"); }

static u32 page_seed(u32 p, u32 g)
{
	u32 x = p * 0x85ebca6bu ^ g * 0xc2b2ae35u;

	x ^= x >> 16;
	x *= 0x7feb352du;
	x ^= x >> 15;
	return x;
}

static u32 *data_page(u32 p) { return (u32 *)((char *)dbuf + PAGE_BYTES * (1 + p)); }

static void write_page(u32 p, u32 g)
{
	u32 *w = data_page(p);
	u32 v = page_seed(p, g);
	u32 i;

	w[0] = p;
	w[1] = g;
	for (i = 2; i < PAGE_WORDS; i++) {
		w[i] = v;
		v += 0x9e3779b9u;
	}
}

/* The sweep page p must hold, given the writer's position. */
static u32 expected_gen(u32 p, u32 gen, u32 cursor) { return p < cursor ? gen : gen - 1; }

static int page_header_ok(u32 p, u32 g)
{
	u32 *w = data_page(p);

	return g == 0 ? (w[0] == 0 && w[1] == 0) : (w[0] == p && w[1] == g);
}

static int page_body_ok(u32 p, u32 g)
{
	u32 *w = data_page(p);
	u32 v = g == 0 ? 0 : page_seed(p, g);
	u32 step = g == 0 ? 0 : 0x9e3779b9u;
	u32 i;

	for (i = 2; i < PAGE_WORDS; i++) {
		if (w[i] != v)
			return 0;
		v += step;
	}
	return 1;
}

static int writer_alive(void)
{
	return dbuf && dbuf->writer > 0 && sys_kill(dbuf->writer, 0) == 0;
}

/* Creates (or re-creates, with another size) the shared buffer. Called by the shell itself, so
 * that later background and foreground commands share it. */
static int dbuf_setup(u32 mib)
{
	u32 npages = mib * (1024 * 1024 / PAGE_BYTES);
	void *m;

	if (dbuf && dbuf->npages == npages)
		return 0;
	if (writer_alive())
		return -EBUSY;
	if (dbuf)
		sys_munmap(dbuf, PAGE_BYTES * (1 + dbuf->npages));
	dbuf = 0;
	m = sys_mmap(0, PAGE_BYTES * (1 + npages), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		     -1, 0);
	if ((unsigned long)m >= (unsigned long)-4095)
		return (long)m;
	dbuf = m;
	dbuf->magic = DBUF_MAGIC;
	dbuf->npages = npages;
	dbuf->gen = 1;
	dbuf->cursor = 0;
	return 0;
}

#define DIRTY_USAGE "dirty <MiB 1-1024> <MiB/s 1-1024> [<seconds>] | dirty stop | dirty lose <page>"

static int dirty_args(int argc, char **argv, u32 *mib, u32 *rate, u32 *limit_ms)
{
	*limit_ms = 0;
	return argc >= 3 && argc <= 4 && parse_u32(argv[1], mib) && parse_u32(argv[2], rate) &&
	       *mib >= 1 && *mib <= 1024 && *rate >= 1 && *rate <= 1024 &&
	       (argc == 3 || parse_seconds_ms(argv[3], limit_ms));
}

/*
 * Runs in the shell before it forks a background `dirty`: the buffer must be mapped by the shell
 * so that later commands (counter, dirty stop) share it. Returns 0 to go on, else the status.
 */
static int dirty_prepare(int argc, char **argv)
{
	u32 mib, rate, limit_ms;
	int ret;

	if ((argc == 2 && str_eq(argv[1], "stop")) || (argc == 3 && str_eq(argv[1], "lose")))
		return 0;
	if (!dirty_args(argc, argv, &mib, &rate, &limit_ms)) {
		usage(DIRTY_USAGE);
		return 2;
	}
	if (writer_alive()) {
		fail("dirty: a writer is running (dirty stop)", -EBUSY);
		return 1;
	}
	ret = dbuf_setup(mib);
	if (ret < 0) {
		fail("dirty", ret);
		return 1;
	}
	return 0;
}

/* Holds the writer between two pages (see dbuf_verify); returns the seq value seen. */
static u32 dbuf_hold(void)
{
	u32 seq, waited = 0;

	dbuf->hold = 1;
	fence();
	/* the writer finishes the page it is on; if it died mid-page the page stays torn */
	while (((seq = dbuf->seq) & 1) && writer_alive() && waited++ < 2000)
		sleep_ms(1);
	fence();
	return seq;
}

static void dbuf_release(void)
{
	fence();
	dbuf->hold = 0;
}

/*
 * The writer's side of the hold: seq goes odd first, then hold is looked at (the counter sets
 * hold first, then looks at seq), so the two never both go ahead, whatever the scheduler does
 * between them. Returns 0 without entering when `dirty stop` came while it waited: a writer that
 * is asked to stop must not change a page under a counter that holds it.
 */
static int writer_enter(void)
{
	for (;;) {
		dbuf->seq++;
		fence();
		if (!dbuf->hold)
			return 1;
		dbuf->seq++;
		fence();
		while (dbuf->hold && !dbuf->stop)
			sleep_ms(1);
		if (dbuf->stop)
			return 0;
	}
}

/*
 * dirty lose <page>: puts the previous sweep's content back into one data page, as a migration
 * that missed the page's last write would. For checking that `counter` notices (it must report
 * bad=1 until the writer rewrites the page).
 */
static int dirty_lose(const char *arg)
{
	u32 p, g;

	if (!dbuf || !parse_u32(arg, &p) || p >= dbuf->npages) {
		usage("dirty lose <page below the buffer's page count>, after a dirty");
		return 2;
	}
	dbuf_hold();
	g = expected_gen(p, dbuf->gen, dbuf->cursor);
	if (g == 0) {
		dbuf_release();
		fail("dirty lose: the page was never written", -EINVAL);
		return 1;
	}
	if (g == 1)
		memset(data_page(p), 0, PAGE_BYTES);
	else
		write_page(p, g - 1);
	dbuf_release();
	return 0;
}

/*
 * dirty <MiB> <MiB/s> [<seconds>]: rewrites the buffer at a steady rate until a key is pressed
 * (foreground), `dirty stop` (background), or <seconds> elapse. `dirty stop` itself only sets the
 * flag.
 */
static int cmd_dirty(int argc, char **argv, int background)
{
	u32 mib, rate, limit_ms, pages_per_s, credit = 0, last, start, written = 0;
	u32 gen, cursor;
	struct termios saved;
	int keys = 0, ret;

	if (argc == 2 && str_eq(argv[1], "stop")) {
		if (!writer_alive()) {
			fail("dirty", -ESRCH);
			return 1;
		}
		dbuf->stop = 1;
		return 0;
	}
	if (argc == 3 && str_eq(argv[1], "lose"))
		return dirty_lose(argv[2]);
	/* a no-op after dirty_prepare() in the shell; the foreground path needs it */
	ret = dirty_prepare(argc, argv);
	if (ret)
		return ret;
	dirty_args(argc, argv, &mib, &rate, &limit_ms);
	dbuf->writer = sys_getpid();
	dbuf->stop = 0;
	pages_per_s = rate * (1024 * 1024 / PAGE_BYTES);
	gen = dbuf->gen;
	cursor = dbuf->cursor;
	out_str("dirty: ");
	out_u32(mib);
	out_str(" MiB at ");
	out_u32(rate);
	out_str(" MiB/s, pid ");
	out_i32(sys_getpid());
	out_str(background ? ", `dirty stop` ends it" : ", any key ends it");
	out_nl();
	if (!background)
		keys = console_keys_on(&saved);

	start = last = now_ms();
	while (!dbuf->stop) {
		u32 now = now_ms(), elapsed = now - last, due;

		if (limit_ms && now - start >= limit_ms)
			break;
		/* A long gap (VM paused, snapshot, migration) does not turn into a burst: the rate stays
		 * steady in guest time as seen by this loop. */
		if (elapsed > 1000)
			elapsed = 1000;
		last = now;
		credit += elapsed * pages_per_s;
		due = credit / 1000;
		credit %= 1000;
		while (due--) {
			if (dbuf->gen != gen || dbuf->cursor != cursor) {
				/* our own private copy disagrees with the shared page: it was lost */
				dbuf->lost++;
				gen = dbuf->gen;
				cursor = dbuf->cursor;
			}
			if (!writer_enter())
				break;
			write_page(cursor, gen);
			if (++cursor == dbuf->npages) {
				cursor = 0;
				gen++;
			}
			dbuf->cursor = cursor;
			dbuf->gen = gen;
			fence();
			dbuf->seq++;
			written++;
		}
		if (keys ? wait_input(10) : (sleep_ms(10), 0))
			break;
	}
	if (keys) {
		drain_input();
		console_keys_off(&saved);
	}
	dbuf->writer = 0;
	out_str("dirty: stopped after ");
	out_u32(written);
	out_str(" pages, sweep ");
	out_u32(gen);
	out_str(" page ");
	out_u32(cursor);
	out_nl();
	return 0;
}

/*
 * One verification pass: the header of every page, the full body of COUNTER_FULL_PAGES pages
 * starting at *full_next (rotating). Returns the number of pages that broke the pattern and
 * stores the checksum and the writer's position.
 */
static u32 dbuf_verify(u32 *sum, u32 *gen_out, u32 *cursor_out, u32 *full_next)
{
	u32 h = FNV_BASIS, bad = 0, gen, cursor, p, k, seq;

	seq = dbuf_hold();
	gen = dbuf->gen;
	cursor = dbuf->cursor;
	for (p = 0; p < dbuf->npages; p++) {
		u32 *w = data_page(p);

		if (!page_header_ok(p, expected_gen(p, gen, cursor)))
			bad++;
		h = (h ^ w[0]) * FNV_PRIME;
		h = (h ^ w[1]) * FNV_PRIME;
	}
	for (k = 0; k < COUNTER_FULL_PAGES && k < dbuf->npages; k++) {
		p = (*full_next + k) % dbuf->npages;
		/* a page with a bad header is already counted */
		if (page_header_ok(p, expected_gen(p, gen, cursor)) &&
		    !page_body_ok(p, expected_gen(p, gen, cursor)))
			bad++;
	}
	*full_next = (*full_next + k) % dbuf->npages;
	if (seq & 1)
		bad++; /* a writer died mid-page */
	dbuf_release();
	*sum = h;
	*gen_out = gen;
	*cursor_out = cursor;
	return bad;
}

/*
 * counter [<lines>]: prints `counter <n> <checksum> <sweep>:<page> <status>` every 100 ms until a
 * key (foreground), <lines> lines, or the process is killed.
 */
static int cmd_counter(int argc, char **argv, int background)
{
	u32 limit = 0, n = 0, full_next = 0, next;
	int ever_bad = 0;
	struct termios saved;
	int keys = 0;

	if (argc > 2 || (argc == 2 && !parse_u32(argv[1], &limit))) {
		usage("counter [<lines>]");
		return 2;
	}
	if (!background)
		keys = console_keys_on(&saved);
	next = now_ms();
	for (;;) {
		u32 sum = FNV_BASIS, gen = 0, cursor = 0, now, bad = 0;

		if (dbuf)
			bad = dbuf_verify(&sum, &gen, &cursor, &full_next) + dbuf->lost;
		/* once anything was wrong, never "ok" again, even after the writer rewrote the page */
		ever_bad |= bad != 0;
		n++;
		out_str("counter ");
		out_u32(n);
		out_chr(' ');
		out_hex8(sum);
		out_chr(' ');
		out_u32(gen);
		out_chr(':');
		out_u32(cursor);
		if (!ever_bad) {
			out_str(" ok");
		} else {
			out_str(" bad=");
			out_u32(bad);
		}
		out_nl();
		if (limit && n >= limit)
			break;
		/* fixed 100 ms cadence; after a pause longer than a period, resume the cadence from now
		 * instead of printing a burst of catch-up lines */
		next += COUNTER_PERIOD_MS;
		now = now_ms();
		if ((int)(next - now) < 0)
			next = now + COUNTER_PERIOD_MS;
		if (keys ? wait_input(next - now) : (sleep_ms(next - now), 0))
			break;
	}
	if (keys) {
		drain_input();
		console_keys_off(&saved);
	}
	return 0;
}

#endif /* SKIFF_WORKLOAD_H */
