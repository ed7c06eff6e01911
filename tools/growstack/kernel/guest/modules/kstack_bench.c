// SPDX-License-Identifier: GPL-2.0
/*
 * Microbenchmarks for dynamic kernel stacks, loaded by growstack's workload
 * program when booted with bench=1.  Results are printed as
 * "# growstack: NAME=VALUE" lines, which growstack collects.
 *
 * kthread_ns, kthread_min_ns: kthread_run() plus kthread_stop(), per pair,
 *	the median and the fastest of @rounds rounds of @pairs pairs.
 * touch_ns, touch3_ns: the first write to a stack page that was never
 *	touched, less a second write to the same place.  With dynamic stacks
 *	that is the cost of a stack fault mapping one page (touch_ns), or
 *	three at once (touch3_ns); without, what is left of it (on UML, the
 *	lazy host mapping of a new vmalloc page).  Averaged over new kthreads
 *	whose stack was fresh.
 */
#include <linux/completion.h>
#include <linux/kstack.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/sched/task_stack.h>
#include <linux/slab.h>
#include <linux/sort.h>

static unsigned int rounds = 15;
module_param(rounds, uint, 0444);
static unsigned int pairs = 1000;
module_param(pairs, uint, 0444);
static unsigned int probes = 100;
module_param(probes, uint, 0444);

struct probe {
	struct completion done;
	bool jump;
	bool fresh;
	u64 first, second;
};

static int sleep_until_stopped(void)
{
	while (!kthread_should_stop()) {
		set_current_state(TASK_INTERRUPTIBLE);
		if (kthread_should_stop())
			break;
		schedule();
	}
	__set_current_state(TASK_RUNNING);
	return 0;
}

static int idle_fn(void *unused)
{
	return sleep_until_stopped();
}

static int cmp_u64(const void *a, const void *b)
{
	const u64 *x = a, *y = b;

	return *x < *y ? -1 : *x > *y;
}

static u64 bench_kthreads(u64 *fastest)
{
	u64 *ns = kcalloc(rounds, sizeof(*ns), GFP_KERNEL), median;
	unsigned int r, i;

	if (!ns)
		return 0;
	for (r = 0; r < rounds; r++) {
		u64 start = ktime_get_ns();

		for (i = 0; i < pairs; i++) {
			struct task_struct *t = kthread_run(idle_fn, NULL, "kstack_bench");

			if (IS_ERR(t))
				goto out;
			kthread_stop(t);
		}
		ns[r] = (ktime_get_ns() - start) / pairs;
	}
	sort(ns, rounds, sizeof(*ns), cmp_u64, NULL);
out:
	median = r == rounds ? ns[rounds / 2] : 0;
	*fastest = r == rounds ? ns[0] : 0;
	kfree(ns);
	return median;
}

static noinline void poke(unsigned long addr)
{
	WRITE_ONCE(*(unsigned long *)addr, 0);
}

/* Write below the stack pointer, where the stack has never been. */
static int probe_fn(void *arg)
{
	struct probe *p = arg;
	unsigned long base = (unsigned long)task_stack_page(current);
	unsigned long addr = p->jump ? base + 64 : base + THREAD_SIZE - 2 * PAGE_SIZE + 64;
	struct kstack_area *area = task_kstack(current);
	u64 t0, t1, t2;

	p->fresh = !area || READ_ONCE(area->nr_mapped) == 1;
	if (p->fresh) {
		t0 = ktime_get_ns();
		poke(addr);
		t1 = ktime_get_ns();
		poke(addr);
		t2 = ktime_get_ns();
		p->first = t1 - t0;
		p->second = t2 - t1;
	}
	complete(&p->done);
	return sleep_until_stopped();
}

/* Many probes at once, so that most get a new stack rather than a cached one. */
static u64 bench_touch(bool jump, unsigned int *samples)
{
	struct probe *p = kcalloc(probes, sizeof(*p), GFP_KERNEL);
	struct task_struct **t = kcalloc(probes, sizeof(*t), GFP_KERNEL);
	u64 sum = 0;
	unsigned int i, started = 0;

	*samples = 0;
	if (!p || !t)
		goto out;
	for (i = 0; i < probes; i++, started++) {
		init_completion(&p[i].done);
		p[i].jump = jump;
		t[i] = kthread_run(probe_fn, &p[i], "kstack_probe");
		if (IS_ERR(t[i]))
			break;
	}
	for (i = 0; i < started; i++) {
		wait_for_completion(&p[i].done);
		kthread_stop(t[i]);
		if (p[i].fresh && p[i].first > p[i].second) {
			sum += p[i].first - p[i].second;
			(*samples)++;
		}
	}
out:
	kfree(p);
	kfree(t);
	return *samples ? sum / *samples : 0;
}

static int __init kstack_bench_init(void)
{
	unsigned int samples;
	u64 ns, fastest;

	pr_info("# growstack: dynamic=%d\n", kstack_enabled());
	ns = bench_kthreads(&fastest);
	pr_info("# growstack: kthread_ns=%llu\n", ns);
	pr_info("# growstack: kthread_min_ns=%llu\n", fastest);
	ns = bench_touch(false, &samples);
	pr_info("# growstack: touch_ns=%llu\n", ns);
	pr_info("# growstack: touch_samples=%u\n", samples);
	ns = bench_touch(true, &samples);
	pr_info("# growstack: touch3_ns=%llu\n", ns);
	pr_info("# growstack: touch3_samples=%u\n", samples);
	return 0;
}
module_init(kstack_bench_init);

static void __exit kstack_bench_exit(void)
{
}
module_exit(kstack_bench_exit);

MODULE_DESCRIPTION("Microbenchmarks for dynamic kernel stacks");
MODULE_LICENSE("GPL");
