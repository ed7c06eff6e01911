// SPDX-License-Identifier: GPL-2.0
/*
 * Takes a thread deep into its kernel stack on request, for growstack's
 * stress program on x86-64, whose system calls rarely leave the first page
 * of a stack.  Writing N to /sys/kernel/debug/kstack_deep recurses until
 * about N bytes of the writer's kernel stack are in use, with data in every
 * frame that is read back on the way out: -EIO if any of it changed, as a
 * stack fault that mapped the wrong page would make it.
 */
#include <linux/debugfs.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/sched/task_stack.h>

#define DEEP_WORDS	32
/* What the recursion leaves of the stack for the call chain above it. */
#define DEEP_SPARE	2048

static struct dentry *deep_file;

static noinline int deep(unsigned long stop, unsigned long seed)
{
	unsigned long buf[DEEP_WORDS];
	int i, bad = 0;

	for (i = 0; i < DEEP_WORDS; i++)
		buf[i] = seed + i;
	barrier_data(buf);
	if ((unsigned long)buf > stop)
		bad = deep(stop, seed * 31 + 7);
	barrier_data(buf);
	for (i = 0; i < DEEP_WORDS; i++)
		bad += buf[i] != seed + i;
	return bad;
}

static ssize_t deep_write(struct file *file, const char __user *ubuf,
			  size_t count, loff_t *ppos)
{
	unsigned long top = (unsigned long)task_stack_page(current) + THREAD_SIZE;
	unsigned long bytes;
	int err;

	err = kstrtoul_from_user(ubuf, count, 0, &bytes);
	if (err)
		return err;
	if (bytes > THREAD_SIZE - DEEP_SPARE)
		return -EINVAL;
	return deep(top - bytes, bytes) ? -EIO : count;
}

static const struct file_operations deep_fops = {
	.owner = THIS_MODULE,
	.write = deep_write,
};

static int __init kstack_deep_init(void)
{
	deep_file = debugfs_create_file("kstack_deep", 0200, NULL, NULL, &deep_fops);
	return 0;
}
module_init(kstack_deep_init);

static void __exit kstack_deep_exit(void)
{
	debugfs_remove(deep_file);
}
module_exit(kstack_deep_exit);

MODULE_DESCRIPTION("Deep kernel stacks on request, for growstack's stress loads");
MODULE_LICENSE("GPL");
