// SPDX-License-Identifier: GPL-2.0
/*
 * The init program that runs kernel selftests in a guest: it mounts /proc
 * and /sys, runs every program in /kselftests in name order and powers the
 * machine off.
 *
 * The output is one KTAP document with a suite per program, as KUnit's: the
 * program's own TAP, indented, less its version line, and a result from its
 * exit status (kselftest's: 0 pass, 4 skip, anything else fail).
 *
 * On QEMU it runs after KUnit in the same boot: kunit.py's
 * "kunit_shutdown=reboot" comes after the "--" of our kernel command line
 * and arrives here as an argument, which is ignored.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/wait.h>
#include <unistd.h>

#define TESTS "/kselftests"
#define KSFT_SKIP 4

static int is_test(const struct dirent *entry)
{
	return entry->d_name[0] != '.';
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* Run one program as subtest `number`, its output indented; its exit status. */
static int run(int number, const char *name)
{
	char path[512], line[4096];
	int pipefd[2], status = -1;
	FILE *out;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/%s", TESTS, name);
	printf("    KTAP version 1\n    # Subtest: %s\n", name);
	if (pipe(pipefd) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(pipefd[1], 1);
		dup2(pipefd[1], 2);
		close(pipefd[0]);
		close(pipefd[1]);
		execl(path, path, (char *)NULL);
		printf("# cannot run %s\n", path);
		_exit(127);
	}
	close(pipefd[1]);
	out = fdopen(pipefd[0], "r");
	while (out && fgets(line, sizeof(line), out)) {
		if (!strncmp(line, "TAP version", 11) || !strncmp(line, "KTAP version", 12))
			continue;
		printf("    %s", line);
	}
	if (out)
		fclose(out);
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		status = -1;
	if (status != -1 && WIFSIGNALED(status))
		printf("    # %s killed by signal %d\n", name, WTERMSIG(status));
	if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		printf("ok %d %s\n", number, name);
	else if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == KSFT_SKIP)
		printf("ok %d %s # SKIP\n", number, name);
	else
		printf("not ok %d %s\n", number, name);
	return status;
}

int main(void)
{
	struct dirent **tests;
	int n, i;

	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	n = scandir(TESTS, &tests, is_test, by_name);
	printf("KTAP version 1\n1..%d\n", n > 0 ? n : 0);
	for (i = 0; i < n; i++) {
		run(i + 1, tests[i]->d_name);
		free(tests[i]);
	}
	sync();
	reboot(RB_POWER_OFF);
	return 1;
}
