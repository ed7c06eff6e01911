# SPDX-License-Identifier: GPL-2.0
# 32-bit PA-RISC on QEMU's only hppa machine, the B160L (Debian: qemu-system-misc,
# firmware in qemu-system-data). The kconfig is trimmed to what that machine
# needs: a PA7100LC-compatible CPU, the GSC bus with Dino (serial port) and Lasi.
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
			   kernel_command_line='console=ttyS0',
			   extra_qemu_params=['-machine', 'hppa', '-m', '512'])
