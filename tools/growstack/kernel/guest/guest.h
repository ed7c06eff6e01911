/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the init programs of `growstack boot` share: KTAP results and
 * figures ("# growstack: NAME=VALUE"), the kernel's counters, the
 * environment from the kernel command line, the pseudo file systems, and
 * system calls that go deep into the kernel.  Each program is one
 * statically linked file that includes this.
 */
#ifndef GROWSTACK_GUEST_H
#define GROWSTACK_GUEST_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int tests_run;
static int failures;

static inline void result(int ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (fmt) {
		printf("    # ");
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
	}
	printf("    %s %d %s\n", ok ? "ok" : "not ok", ++tests_run, name);
	fflush(stdout);
	failures += !ok;
}

static inline void figure(const char *name, long long value)
{
	printf("    # growstack: %s=%lld\n", name, value);
}

static inline long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* A field of /proc/vmstat, or -1. */
static inline long long vmstat(const char *name)
{
	char key[64];
	long long value;
	FILE *f = fopen("/proc/vmstat", "r");

	if (!f)
		return -1;
	while (fscanf(f, "%63s %lld", key, &value) == 2) {
		if (!strcmp(key, name)) {
			fclose(f);
			return value;
		}
	}
	fclose(f);
	return -1;
}

static inline void show_file(const char *path)
{
	char line[256];
	FILE *f = fopen(path, "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		printf("    # %s: %s", path, line);
	fclose(f);
}

/*
 * Power the machine off, or with "shutdown=reboot" restart it: QEMU's x86
 * machine without ACPI cannot power off, but -no-reboot ends it on a restart.
 */
static inline void shut_down(void)
{
	const char *how = getenv("shutdown");

	fflush(stdout);
	sync();
	reboot(how && !strcmp(how, "reboot") ? RB_AUTOBOOT : RB_POWER_OFF);
}

/* Load the module at @path: 0, or the errno that stopped it. */
static inline int load_module(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), err;

	if (fd < 0)
		return errno;
	err = syscall(SYS_finit_module, fd, "", 0) ? errno : 0;
	close(fd);
	return err;
}

static inline long env_long(const char *name, long fallback)
{
	const char *value = getenv(name);

	return value ? strtol(value, NULL, 0) : fallback;
}

/* Syscalls that take a thread deeper into the kernel than blocking does. */
static inline void deepen(void)
{
	char buf[4096];
	struct stat st;
	int fds[2], fd;

	stat("/proc/self/status", &st);
	fd = open("/proc/self/maps", O_RDONLY);
	if (fd >= 0) {
		while (read(fd, buf, sizeof(buf)) > 0)
			;
		close(fd);
	}
	fd = open("/tmp", O_RDONLY | O_DIRECTORY);
	if (fd >= 0)
		close(fd);
	if (pipe(fds) == 0) {
		if (write(fds[1], buf, 512) == 512 && read(fds[0], buf, 512) != 512)
			buf[0] = 0;
		close(fds[0]);
		close(fds[1]);
	}
}

static inline int mount_all(void)
{
	mkdir("/proc", 0755);
	mkdir("/sys", 0755);
	mkdir("/tmp", 01777);
	if (mount("proc", "/proc", "proc", 0, NULL) ||
	    mount("sysfs", "/sys", "sysfs", 0, NULL))
		return -1;
	mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
	return 0;
}

/* Sum of a field of /sys/kernel/debug/kstack/reserve over the CPUs, or 0. */
static inline long long reserve_stat(const char *name)
{
	char word[64];
	long long sum = 0, value;
	FILE *f = fopen("/sys/kernel/debug/kstack/reserve", "r");

	if (!f)
		return 0;
	while (fscanf(f, "%63s", word) == 1)
		if (!strcmp(word, name) && fscanf(f, "%lld", &value) == 1)
			sum += value;
	fclose(f);
	return sum;
}

/* Write @text to @path: 0, or -1. */
static inline int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

#endif /* GROWSTACK_GUEST_H */
