// SPDX-License-Identifier: GPL-2.0
/*
 * The init program of `growstack boot`: a thread-heavy workload that
 * reports in KTAP, then powers the machine off.
 *
 * It times `forks` fork+exit pairs, in batches (environment variables come from the
 * kernel command line; 200 by default), then starts `threads` threads (2000)
 * that block on a barrier, reads nr_kernel_stack with all of them alive,
 * makes them run system calls that go deeper into the kernel (/proc files,
 * pipes) and, with `deep=BYTES`, take their kernel stacks that deep through
 * /kstack_deep.ko, reads it again (the peak), and joins them.  With
 * `settle_ms=N` it first leaves them asleep for N ms, sampling
 * nr_kernel_stack, to see stacks shrink back.  With `bench=1` it loads
 * /kstack_bench.ko first, whose results the kernel prints, and after the
 * forks times thread create+join, fork+exec+wait, pipe round trips and
 * user page faults (run_microbenchmarks()).
 *
 * Figures are printed as "# growstack: NAME=VALUE" for the benchmark.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "guest.h"

static pthread_barrier_t start_line, go, done, release;
static int nr_threads;
static long deep;
static volatile long deep_bad;

/* Take this thread's kernel stack @deep bytes deep; its data is checked. */
static void go_deep(void)
{
	char depth[24];
	int fd, len;

	fd = open("/sys/kernel/debug/kstack_deep", O_WRONLY | O_CLOEXEC);
	len = snprintf(depth, sizeof(depth), "%ld", deep);
	if (fd < 0 || write(fd, depth, len) != len)
		__atomic_fetch_add(&deep_bad, 1, __ATOMIC_RELAXED);
	if (fd >= 0)
		close(fd);
}

static void *worker(void *arg)
{
	pthread_barrier_wait(&start_line);
	pthread_barrier_wait(&go);
	deepen();
	if (deep)
		go_deep();
	pthread_barrier_wait(&done);
	pthread_barrier_wait(&release);
	return arg;
}

static void load_bench(void)
{
	long long refills = reserve_stat("refills");
	long long pages = reserve_stat("refill_pages");
	long long ns = reserve_stat("refill_ns");
	int err = load_module("/kstack_bench.ko");

	result(!err, "bench_module", err ? "loading /kstack_bench.ko: %s" : NULL,
	       strerror(err));
	figure("bench_refills", reserve_stat("refills") - refills);
	figure("bench_refill_pages", reserve_stat("refill_pages") - pages);
	figure("bench_refill_ns", reserve_stat("refill_ns") - ns);
}

/*
 * With the threads asleep after their deep work, sample nr_kernel_stack for
 * settle_ms: what it is at the end, and after how many ms it first came
 * within 10 % of @idle, the level with the threads alive before that work
 * (-1: never).  Stacks shrink only where shrink passes run.
 */
static void settle(long long idle)
{
	long ms = env_long("settle_ms", 0), t;
	long long passes = reserve_stat("shrink_passes");
	long long pages = reserve_stat("shrink_pages");
	long long ns = reserve_stat("shrink_ns");
	long long kb = -1, within = -1;
	long long start = now_ns();

	if (ms <= 0)
		return;
	for (t = 0; t <= ms; t += 100) {
		kb = vmstat("nr_kernel_stack");
		if (within < 0 && kb <= idle + idle / 10)
			within = (now_ns() - start) / 1000000;
		usleep(100000);
	}
	figure("stack_kb_settled", kb);
	figure("settle_ms", within);
	figure("shrink_passes", reserve_stat("shrink_passes") - passes);
	figure("shrink_pages", reserve_stat("shrink_pages") - pages);
	figure("shrink_ns", reserve_stat("shrink_ns") - ns);
	show_file("/sys/kernel/debug/kstack/stacks");
}

static void run_threads(void)
{
	pthread_t *threads = calloc(nr_threads, sizeof(*threads));
	long long before, alive, deeper, faults;
	int i, started = 0, joined = 0;
	pthread_attr_t attr;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	pthread_barrier_init(&start_line, NULL, nr_threads + 1);
	pthread_barrier_init(&go, NULL, nr_threads + 1);
	pthread_barrier_init(&done, NULL, nr_threads + 1);
	pthread_barrier_init(&release, NULL, nr_threads + 1);

	before = vmstat("nr_kernel_stack");
	for (i = 0; i < nr_threads; i++)
		started += pthread_create(&threads[i], &attr, worker, NULL) == 0;
	result(started == nr_threads, "threads_started", "%d of %d threads started",
	       started, nr_threads);
	if (started != nr_threads)
		exit(1);

	pthread_barrier_wait(&start_line);
	alive = vmstat("nr_kernel_stack");
	figure("threads", nr_threads);
	figure("stack_kb_before", before);
	figure("stack_kb_idle_threads", alive);
	show_file("/sys/kernel/debug/kstack/reserve");
	show_file("/sys/kernel/debug/kstack/stacks");

	faults = vmstat("kstack_fault");
	pthread_barrier_wait(&go);
	pthread_barrier_wait(&done);
	deeper = vmstat("nr_kernel_stack");
	figure("stack_kb_busy_threads", deeper);
	figure("faults_busy_threads", faults < 0 ? 0 : vmstat("kstack_fault") - faults);
	show_file("/sys/kernel/debug/kstack/stacks");
	if (deep)
		result(!deep_bad, "deep", "%ld of %d threads could not go %ld bytes deep",
		       deep_bad, nr_threads, deep);
	settle(alive);
	pthread_barrier_wait(&release);
	result(alive > before, "stack_accounted", "nr_kernel_stack %lld KiB -> %lld KiB",
	       before, alive);

	for (i = 0; i < nr_threads; i++)
		joined += pthread_join(threads[i], NULL) == 0;
	result(joined == nr_threads, "threads_joined", "%d of %d joined", joined,
	       nr_threads);
	free(threads);
}

static int cmp_ll(const void *a, const void *b)
{
	const long long *x = a, *y = b;

	return *x < *y ? -1 : *x > *y;
}

/*
 * Each microbenchmark runs its operation in BATCHES batches: the median
 * batch is the typical cost, the fastest the cost with the least
 * interference from the host.
 */
#define BATCHES 10

/*
 * Time @ops calls of @op, which returns 0 on success, and print the figures
 * NAME_ns and NAME_min_ns: the time per call divided by @units (the pages
 * one call touches).  Returns how many calls failed.
 */
static long time_batches(const char *name, long ops, long units, int (*op)(void *), void *arg)
{
	long per = ops / BATCHES, i, failed = 0;
	long long ns[BATCHES];
	char key[64];
	int b;

	for (b = 0; b < BATCHES; b++) {
		long long start = now_ns();

		for (i = 0; i < per; i++)
			failed += op(arg) != 0;
		ns[b] = per ? (now_ns() - start) / (per * units) : 0;
	}
	qsort(ns, BATCHES, sizeof(ns[0]), cmp_ll);
	snprintf(key, sizeof(key), "%s_ns", name);
	figure(key, ns[BATCHES / 2]);
	snprintf(key, sizeof(key), "%s_min_ns", name);
	figure(key, ns[0]);
	return failed;
}

/* Wait for @pid: 0 if it exited with status 0. */
static int reap(pid_t pid)
{
	int status;

	return !(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		 !WEXITSTATUS(status));
}

static int fork_exit(void *unused)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	return reap(pid);
}

/* The program itself with the argument "exit" is the static program exec'd. */
static int fork_exec(void *self)
{
	pid_t pid = fork();

	if (pid == 0) {
		execl(self, self, "exit", (char *)NULL);
		_exit(127);
	}
	return reap(pid);
}

static void *nothing(void *arg)
{
	return arg;
}

static int thread_join(void *attr)
{
	pthread_t thread;

	return pthread_create(&thread, attr, nothing, NULL) || pthread_join(thread, NULL);
}

/* One round trip: a byte to the partner and back, over two pipes. */
static int ping(void *fds)
{
	int *fd = fds;
	char byte = 0;

	return write(fd[0], &byte, 1) != 1 || read(fd[1], &byte, 1) != 1;
}

/* Fresh anonymous memory, one write per page: an ordinary user page fault each. */
#define FAULT_PAGES 256

static int touch_pages(void *unused)
{
	long page = sysconf(_SC_PAGESIZE), i;
	char *p = mmap(NULL, FAULT_PAGES * page, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return 1;
	/* One fault per page, never a huge page (fails harmlessly without THP). */
	madvise(p, FAULT_PAGES * page, MADV_NOHUGEPAGE);
	for (i = 0; i < FAULT_PAGES; i++)
		((volatile char *)p)[i * page] = 1;
	return munmap(p, FAULT_PAGES * page);
}

/*
 * Pipe ping-pong with a child process, both on one CPU, so that every
 * round trip is two context switches rather than two cross-CPU wake-ups.
 */
static long ping_pong(long round_trips)
{
	int there[2], back[2], fds[2];
	cpu_set_t all, one;
	long failed;
	char byte;
	pid_t pid;

	if (pipe(there) || pipe(back))
		return 1;
	sched_getaffinity(0, sizeof(all), &all);
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	sched_setaffinity(0, sizeof(one), &one);
	pid = fork();
	if (pid == 0) {
		close(there[1]);
		close(back[0]);
		while (read(there[0], &byte, 1) == 1)
			if (write(back[1], &byte, 1) != 1)
				_exit(1);
		_exit(0);
	}
	close(there[0]);
	close(back[1]);
	fds[0] = there[1];
	fds[1] = back[0];
	failed = pid < 0 ? 1 : time_batches("pipe_round_trip", round_trips, 1, ping, fds);
	close(there[1]);	/* EOF: the child exits */
	close(back[0]);
	sched_setaffinity(0, sizeof(all), &all);
	return failed + reap(pid);
}

/*
 * With bench=1: what dynamic stacks might cost the rest of the system.
 * "forks" sets the number of process and thread operations; the cheaper
 * round trips and page faults get 10 and 100 times as many.
 */
static void run_microbenchmarks(const char *self)
{
	long ops = env_long("forks", 200), failed;
	pthread_attr_t attr;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	failed = time_batches("thread_join", ops, 1, thread_join, &attr);
	failed += time_batches("exec", ops, 1, fork_exec, (void *)self);
	failed += ping_pong(10 * ops);
	failed += time_batches("page_fault", 100 * ops / FAULT_PAGES, FAULT_PAGES,
			       touch_pages, NULL);
	result(!failed, "microbenchmarks", failed ? "%ld operations failed" : NULL, failed);
}

static void run_forks(void)
{
	long forks = env_long("forks", 200) / BATCHES * BATCHES;
	long failed = time_batches("fork_exit", forks, 1, fork_exit, NULL);

	result(!failed, "fork_exit", "%ld of %ld children exited cleanly", forks - failed, forks);
}

int main(int argc, char **argv)
{
	long bench = env_long("bench", 0);
	long long value;

	if (argc > 1 && !strcmp(argv[1], "exit"))
		return 0;	/* exec'd by fork_exec() */
	nr_threads = env_long("threads", 2000);
	deep = env_long("deep", 0);
	printf("KTAP version 1\n1..1\n    KTAP version 1\n    # Subtest: workload\n"
	       "    1..%d\n", (bench ? 8 : 6) + (deep ? 2 : 0));
	fflush(stdout);
	result(mount_all() == 0, "mount", NULL);
	if (bench)
		load_bench();
	if (deep) {
		int err = load_module("/kstack_deep.ko");

		result(!err, "deep_module", err ? "loading /kstack_deep.ko: %s" : NULL,
		       strerror(err));
	}
	/* Forks first: freeing thousands of stacks afterwards would slow them. */
	run_forks();
	if (bench)
		run_microbenchmarks(argv[0]);
	run_threads();
	value = vmstat("kstack_refill_fail");
	figure("refill_fail", value);
	figure("fork_fail", vmstat("kstack_fork_fail"));
	figure("faults", vmstat("kstack_fault"));
	figure("fault_kb", vmstat("kstack_fault_kb"));
	figure("stack_kb_end", vmstat("nr_kernel_stack"));
	show_file("/sys/kernel/debug/kstack/reserve");
	result(vmstat("kstack_fork_fail") <= 0, "no_fork_failures", NULL);
	printf("%s 1 workload\n", failures ? "not ok" : "ok");
	shut_down();
	return 1;
}
