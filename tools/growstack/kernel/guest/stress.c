// SPDX-License-Identifier: GPL-2.0
/*
 * The init program of `growstack boot --stress`: memory pressure while
 * many threads go deep into the kernel, so that kernel stacks grow while
 * memory is tight.  For `duration` seconds it keeps running:
 *
 *  - `hogs` processes of `hog_threads` threads each, touching fresh memory
 *    256 KiB at a time until the OOM killer ends them; each is restarted;
 *  - a worker process that starts short-lived threads in batches of 40,
 *    each using a socket pair, a pipe and /proc, and fork+execs itself
 *    once per batch.  With `rt=1` the threads run SCHED_FIFO above
 *    kstackd's priority.
 *
 * With `memcg=SIZE` all of them run in a memory cgroup whose memory.max is
 * SIZE; otherwise the pressure is global (boot with a small mem=).  With
 * `fail_refill=P`, P % of the refills from the page allocator's reserves
 * fail (fail_kstack_refill), from the start of the load on.  With
 * `deep=BYTES` it loads /kstack_deep.ko, and each thread also takes its
 * kernel stack BYTES deep through it, with the data checked (x86-64, whose
 * system calls rarely leave a stack's first page).  After the load it
 * forks once for every fault-injection point a fork passes, each time
 * failing that point (fail_forks()), checks that the kernel still works,
 * reports the kernel's counters as figures and powers off.  A kernel that
 * panics never gets that far.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "guest.h"

#define CGROUP		"/sys/fs/cgroup/stress"
#define BATCH		40
#define HOG_STEP	(256 << 10)
#define MAX_HOGS	16

static long rt, deep;
/* Shared with the worker process. */
static volatile long *batches, *deep_calls, *deep_bad;

/* Through kstack_deep.ko: a stack @deep bytes deep, its data read back. */
static void go_deep(void)
{
	char depth[24];
	int fd, len;

	fd = open("/sys/kernel/debug/kstack_deep", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	len = snprintf(depth, sizeof(depth), "%ld", deep);
	if (write(fd, depth, len) == len)
		__atomic_fetch_add(deep_calls, 1, __ATOMIC_RELAXED);
	else if (errno == EIO)
		__atomic_fetch_add(deep_bad, 1, __ATOMIC_RELAXED);
	close(fd);
}

static int memcg_setup(const char *max)
{
	char path[128];

	mkdir("/sys/fs/cgroup", 0755);
	if (mount("cgroup2", "/sys/fs/cgroup", "cgroup2", 0, NULL) ||
	    write_file("/sys/fs/cgroup/cgroup.subtree_control", "+memory") ||
	    (mkdir(CGROUP, 0755) && errno != EEXIST))
		return -1;
	snprintf(path, sizeof(path), "%s/memory.max", CGROUP);
	return write_file(path, max);
}

/* Make @percent % of refill allocations fail, from now on. */
static int fail_refills(const char *percent)
{
	const char *dir = "/sys/kernel/debug/fail_kstack_refill";
	char path[128];

	snprintf(path, sizeof(path), "%s/interval", dir);
	if (write_file(path, "1"))
		return -1;
	snprintf(path, sizeof(path), "%s/times", dir);
	if (write_file(path, "-1"))
		return -1;
	/* Thousands of failures: no message and stack dump for each. */
	snprintf(path, sizeof(path), "%s/verbose", dir);
	if (write_file(path, "0"))
		return -1;
	snprintf(path, sizeof(path), "%s/probability", dir);
	return write_file(path, percent);
}

/*
 * Fork with the Nth fault-injection point of fork() failing, for N = 1, 2,
 * ... until a fork passes all of them, so that every error path of fork()
 * runs once: among them dup_mmap() giving up after copying part of the
 * address space, and a kernel stack that cannot be populated. The points are
 * failslab's (every slab allocation) and the kernel's own, counted by
 * /proc/thread-self/fail-nth. Returns how many forks failed, or -1 with errno
 * set; *@points is how many points a fork passed.
 */
static long fail_forks(long *points)
{
	char nth[24];
	long n, failed = 0;
	int fd, len;

	/* Allocations that may reclaim too, and no stack dump for each failure. */
	if (write_file("/sys/kernel/debug/failslab/ignore-gfp-wait", "N") ||
	    write_file("/sys/kernel/debug/failslab/verbose", "0"))
		return -1;
	fd = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -1;
	for (n = 1; n < 100000; n++) {
		pid_t pid;

		len = snprintf(nth, sizeof(nth), "%ld", n);
		if (pwrite(fd, nth, len, 0) != len)
			break;
		pid = fork();
		if (!pid)
			_exit(0);
		/* What is left of the count: not 0 if the fork passed every point. */
		len = pread(fd, nth, sizeof(nth) - 1, 0);
		if (pwrite(fd, "0", 1, 0) != 1 || len <= 0)
			break;
		nth[len] = '\0';
		if (pid < 0) {
			failed++;
			continue;
		}
		waitpid(pid, NULL, 0);
		if (atol(nth)) {
			*points = n - 1;
			close(fd);
			return failed;
		}
	}
	close(fd);
	errno = EIO;
	return -1;
}

static void *hog_thread(void *arg)
{
	for (;;) {
		char *p = mmap(NULL, HOG_STEP, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			usleep(1000);
		else
			memset(p, 1, HOG_STEP);
	}
	return arg;
}

static void *deep_thread(void *arg)
{
	char buf[512] = { 0 };
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0) {
		if (write(sv[0], buf, sizeof(buf)) > 0 && read(sv[1], buf, sizeof(buf)) < 0)
			buf[0] = 1;
		close(sv[0]);
		close(sv[1]);
	}
	deepen();
	if (deep)
		go_deep();
	return arg;
}

static void worker(const char *self)
{
	pthread_t threads[BATCH];
	pthread_attr_t attr;
	int i, started;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 << 10);
	for (;;) {
		for (i = started = 0; i < BATCH; i++) {
			if (rt) {
				struct sched_param sp = { .sched_priority = 60 + i % 30 };

				pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
				pthread_attr_setschedpolicy(&attr, SCHED_FIFO);
				pthread_attr_setschedparam(&attr, &sp);
			}
			if (pthread_create(&threads[started], &attr, deep_thread, NULL) == 0)
				started++;
		}
		while (started--)
			pthread_join(threads[started], NULL);
		if (fork() == 0) {
			execl(self, self, "child", (char *)NULL);
			_exit(127);
		}
		while (wait(NULL) > 0)
			;
		__atomic_fetch_add(batches, 1, __ATOMIC_RELAXED);
	}
}

static void hog(long nr_threads)
{
	pthread_attr_t attr;
	pthread_t thread;
	long i;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 << 10);
	for (i = 1; i < nr_threads; i++)
		pthread_create(&thread, &attr, hog_thread, NULL);
	hog_thread(NULL);
}

/* A child in the cgroup (if any), running @fn; -1 if fork failed. */
static pid_t spawn(int memcg, void (*fn)(long), long arg)
{
	pid_t pid = fork();

	if (pid)
		return pid;
	if (memcg)
		write_file(CGROUP "/cgroup.procs", "0");
	fn(arg);
	_exit(0);
}

static const char *self_path;

static void run_worker(long unused)
{
	worker(self_path);
}

/* The lowest low_water of the lines of kstack/reserve starting with @what. */
static long long low_water(const char *what)
{
	char line[256];
	long long min = -1;
	FILE *f = fopen("/sys/kernel/debug/kstack/reserve", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		const char *at = strstr(line, "low_water ");
		long long value;

		if (strncmp(line, what, strlen(what)) || !at ||
		    sscanf(at + 10, "%lld", &value) != 1)
			continue;
		if (min < 0 || value < min)
			min = value;
	}
	fclose(f);
	return min;
}

static const char *const counters[] = {
	"oom_kill", "kstack_fault", "kstack_refill_fail", "kstack_refill_reclaim",
	"kstack_emergency", "kstack_fork_fail", "kstack_irq_resent",
};

static int kernel_works(const char *self)
{
	pthread_t threads[200];
	int i, started = 0, status = -1;
	pid_t pid;

	for (i = 0; i < 200; i++)
		started += pthread_create(&threads[started], NULL, deep_thread, NULL) == 0;
	for (i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	pid = fork();
	if (pid == 0) {
		execl(self, self, "child", (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, &status, 0);
	return started == 200 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int main(int argc, char **argv)
{
	long duration = env_long("duration", 60), nr_hogs = env_long("hogs", 2);
	long hog_threads = env_long("hog_threads", 16);
	const char *memcg = getenv("memcg"), *fail = getenv("fail_refill");
	long long before[sizeof(counters) / sizeof(counters[0])];
	pid_t hogs[MAX_HOGS], work;
	long long end, restarts = 0;
	long failed_forks, fork_points = 0;
	unsigned int i;
	int status, err, deep_err = 0;

	if (argc > 1 && !strcmp(argv[1], "child"))
		return 0;
	self_path = argv[0][0] == '/' ? argv[0] : "/stress";
	rt = env_long("rt", 0);
	deep = env_long("deep", 0);
	if (nr_hogs > MAX_HOGS)
		nr_hogs = MAX_HOGS;
	batches = mmap(NULL, 3 * sizeof(*batches), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	deep_calls = batches + 1;
	deep_bad = batches + 2;
	printf("KTAP version 1\n1..1\n    KTAP version 1\n    # Subtest: stress\n    1..%d\n",
	       deep ? 7 : 6);
	fflush(stdout);
	result(mount_all() == 0, "mount", NULL);
	if (deep)
		deep_err = load_module("/kstack_deep.ko");
	err = memcg ? memcg_setup(memcg) : 0;
	result(!err, "memcg", err ? "memory cgroup with memory.max=%s: %s" : NULL, memcg,
	       strerror(errno));
	for (i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
		before[i] = vmstat(counters[i]);
	err = fail ? fail_refills(fail) : 0;
	result(!err, "fail_refill", err ? "arming fail_kstack_refill at %s %%: %s" : NULL, fail,
	       strerror(errno));

	end = now_ns() + duration * 1000000000LL;
	for (i = 0; i < nr_hogs; i++)
		hogs[i] = spawn(!!memcg, hog, hog_threads);
	work = spawn(!!memcg, run_worker, 0);
	while (now_ns() < end) {
		pid_t pid = waitpid(-1, &status, WNOHANG);

		if (pid <= 0) {
			usleep(100000);
			continue;
		}
		restarts++;
		if (pid == work)
			work = spawn(!!memcg, run_worker, 0);
		for (i = 0; i < nr_hogs; i++)
			if (pid == hogs[i])
				hogs[i] = spawn(!!memcg, hog, hog_threads);
	}
	for (i = 0; i < nr_hogs; i++)
		if (hogs[i] > 0)
			kill(hogs[i], SIGKILL);
	if (work > 0)
		kill(work, SIGKILL);
	while (wait(NULL) > 0)
		;

	result(1, "survived", NULL);
	figure("duration_s", duration);
	figure("batches", *batches);
	figure("restarts", restarts);
	if (deep) {
		figure("deep_calls", *deep_calls);
		figure("deep_bad", *deep_bad);
		if (deep_err)
			result(0, "deep", "loading /kstack_deep.ko: %s", strerror(deep_err));
		else
			result(*deep_calls && !*deep_bad, "deep",
			       *deep_bad ? "%ld deep calls read back changed data" :
			       *deep_calls ? NULL : "no deep call succeeded", *deep_bad);
	}
	for (i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
		figure(counters[i], vmstat(counters[i]) - before[i]);
	figure("reserve_low_water", low_water("cpu "));
	figure("emergency_low_water", low_water("emergency "));
	show_file("/sys/kernel/debug/kstack/reserve");
	failed_forks = fail_forks(&fork_points);
	err = errno;
	figure("failed_forks", failed_forks);
	figure("fork_points", fork_points);
	if (failed_forks < 0)
		result(0, "failed_forks", "failing forks with fail-nth: %s", strerror(err));
	else
		result(failed_forks > 0, "failed_forks",
		       failed_forks ? NULL : "no fork failed at its injected points");
	result(kernel_works(self_path), "kernel_works",
	       "200 threads and a fork+exec after the load");
	printf("%s 1 stress\n", failures ? "not ok" : "ok");
	shut_down();
	return 1;
}
