// SPDX-License-Identifier: GPL-2.0
/*
 * The init program of `growstack boot`: a thread-heavy workload that
 * reports in KTAP, then powers the machine off.
 *
 * It times `forks` fork+exit pairs, in batches (environment variables come from the
 * kernel command line; 200 by default), then starts `threads` threads (2000)
 * that block on a barrier, reads nr_kernel_stack with all of them alive,
 * makes them run system calls that go deeper into the kernel (/proc files,
 * pipes), reads it again, and joins them.  With `bench=1` it loads
 * /kstack_bench.ko first, whose results the kernel prints.
 *
 * Figures are printed as "# growstack: NAME=VALUE" for the benchmark.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "guest.h"

static pthread_barrier_t start_line, go, done, release;
static int nr_threads;

static void *worker(void *arg)
{
	pthread_barrier_wait(&start_line);
	pthread_barrier_wait(&go);
	deepen();
	pthread_barrier_wait(&done);
	pthread_barrier_wait(&release);
	return arg;
}

static void load_bench(void)
{
	long long refills = reserve_stat("refills");
	long long pages = reserve_stat("refill_pages");
	long long ns = reserve_stat("refill_ns");
	int fd = open("/kstack_bench.ko", O_RDONLY | O_CLOEXEC);
	int err = fd < 0 ? errno :
		  syscall(SYS_finit_module, fd, "", 0) ? errno : 0;

	result(!err, "bench_module", err ? "loading /kstack_bench.ko: %s" : NULL,
	       strerror(err));
	if (fd >= 0)
		close(fd);
	figure("bench_refills", reserve_stat("refills") - refills);
	figure("bench_refill_pages", reserve_stat("refill_pages") - pages);
	figure("bench_refill_ns", reserve_stat("refill_ns") - ns);
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
 * Forks in FORK_BATCHES batches: the median batch is the typical cost, the
 * fastest the cost with the least interference from the host.
 */
#define FORK_BATCHES 10

static void run_forks(void)
{
	long forks = env_long("forks", 200), per = forks / FORK_BATCHES, i, good = 0;
	long long ns[FORK_BATCHES];
	int b;

	for (b = 0; b < FORK_BATCHES; b++) {
		long long start = now_ns();

		for (i = 0; i < per; i++) {
			int status;
			pid_t pid = fork();

			if (pid == 0)
				_exit(0);
			if (pid > 0 && waitpid(pid, &status, 0) == pid &&
			    WIFEXITED(status) && !WEXITSTATUS(status))
				good++;
		}
		ns[b] = per ? (now_ns() - start) / per : 0;
	}
	qsort(ns, FORK_BATCHES, sizeof(ns[0]), cmp_ll);
	figure("fork_exit_ns", ns[FORK_BATCHES / 2]);
	figure("fork_exit_min_ns", ns[0]);
	result(good == per * FORK_BATCHES, "fork_exit", "%ld of %ld children exited cleanly",
	       good, per * FORK_BATCHES);
}

int main(void)
{
	long long value;

	nr_threads = env_long("threads", 2000);
	printf("KTAP version 1\n1..1\n    KTAP version 1\n    # Subtest: workload\n"
	       "    1..%d\n", env_long("bench", 0) ? 7 : 6);
	fflush(stdout);
	result(mount_all() == 0, "mount", NULL);
	if (env_long("bench", 0))
		load_bench();
	/* Forks first: freeing thousands of stacks afterwards would slow them. */
	run_forks();
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
