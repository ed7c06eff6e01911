// SPDX-License-Identifier: GPL-2.0
/*
 * The init program of `growstack boot --crash`: provoke a crash with LKDTM
 * and never come back.  The environment (from the kernel command line)
 * says what to do: `crash` is the LKDTM crash type, `fail_fault=N` arms
 * the fault injection of dynamic stacks first.  Before that, with
 * `deep=BYTES` and /kstack_deep.ko in the root, it takes its own kernel
 * stack BYTES deep once, so that the stack faults of the printks on the
 * way to the crash are behind it.  If the kernel survives, the program says
 * so in KTAP and powers the machine off.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest.h"

int main(void)
{
	const char *crash = getenv("crash");
	const char *fail_fault = getenv("fail_fault");
	const char *deep = getenv("deep");

	printf("KTAP version 1\n1..1\n");
	mkdir("/sys", 0755);
	if (mount("sysfs", "/sys", "sysfs", 0, NULL) ||
	    mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL)) {
		printf("not ok 1 crash # cannot mount debugfs\n");
		goto out;
	}
	/* No module where the boot kernel builds none (x86-64): not needed there. */
	if (deep && !access("/kstack_deep.ko", F_OK) &&
	    (load_module("/kstack_deep.ko") ||
	     write_file("/sys/kernel/debug/kstack_deep", deep))) {
		printf("not ok 1 crash # cannot go %s bytes deep first\n", deep);
		goto out;
	}
	if (fail_fault &&
	    write_file("/sys/kernel/debug/kstack/fail_fault", fail_fault)) {
		printf("not ok 1 crash # cannot arm /sys/kernel/debug/kstack/fail_fault\n");
		goto out;
	}
	printf("# growstack: provoking %s\n", crash ? crash : "(nothing)");
	fflush(stdout);
	if (!crash || write_file("/sys/kernel/debug/provoke-crash/DIRECT", crash))
		printf("not ok 1 crash # LKDTM could not provoke %s\n", crash ? crash : "(nothing)");
	else
		printf("not ok 1 crash # the kernel survived %s\n", crash);
out:
	shut_down();
	return 1;
}
