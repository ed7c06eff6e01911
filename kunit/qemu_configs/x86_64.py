# SPDX-License-Identifier: GPL-2.0
# x86-64 with 4 CPUs: per-CPU state, CPU hot-plug and migration only run
# with more than one. kunit.py's own x86_64 config boots a single CPU.
#
# QEMU's TCG accelerator: this machine's /dev/kvm hangs a booting kernel. TCG
# emulates every CPU on one host thread unless told otherwise; multi-threaded
# TCG (thread=multi) lets 4 guest CPUs really run at once and race.
#
# The function graph tracer is built in for kstack_init, whose failed idle
# fork must not free its parent's return stack; UML has no such tracer.
from ..qemu_config import QemuArchParams

QEMU_ARCH = QemuArchParams(linux_arch='x86_64',
			   kconfig='''
CONFIG_SERIAL_8250=y
CONFIG_SERIAL_8250_CONSOLE=y
CONFIG_SMP=y
CONFIG_HOTPLUG_CPU=y
CONFIG_FTRACE=y
CONFIG_FUNCTION_TRACER=y
CONFIG_FUNCTION_GRAPH_TRACER=y''',
			   qemu_arch='x86_64',
			   kernel_path='arch/x86/boot/bzImage',
			   kernel_command_line='console=ttyS0',
			   extra_qemu_params=['-bios', 'qboot.rom',
					      '-smp', '4',
					      '-accel', 'tcg,thread=multi'])
