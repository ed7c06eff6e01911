# SPDX-License-Identifier: GPL-2.0
# 32-bit PA-RISC on QEMU's only hppa machine, the B160L (Debian: qemu-system-misc,
# firmware in qemu-system-data). The kconfig is trimmed to what that machine
# needs: a PA7100LC-compatible CPU, the GSC bus with Dino (serial port) and Lasi,
# and an initramfs.
#
# The command line ends in "--", so kunit.py's "kunit_shutdown=reboot" behind it
# goes to init as an argument: after KUnit the kernel runs /init of the initramfs
# (-initrd), which growstack builds to run the selftests and power off. Without
# one the kernel panics for want of a root file system, and panic=-1 ends the boot.
from ..qemu_config import QemuArchParams

QEMU_ARCH = QemuArchParams(linux_arch='parisc',
			   kconfig='''
CONFIG_PA7100LC=y
CONFIG_GSC=y
CONFIG_GSC_DINO=y
CONFIG_GSC_LASI=y
CONFIG_PCI=y
CONFIG_SERIAL_8250=y
CONFIG_SERIAL_8250_CONSOLE=y
CONFIG_BLK_DEV_INITRD=y
''',
			   qemu_arch='hppa',
			   kernel_path='vmlinux',
			   kernel_command_line='console=ttyS0 panic=-1 --',
			   extra_qemu_params=['-machine', 'hppa', '-m', '512'])
