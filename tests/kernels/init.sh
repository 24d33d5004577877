#!/bin/busybox sh
# /init of the kernel matrix's initramfs (scripts/kernel-initramfs.sh):
# mount what refbpf needs, run the checks (tests/kernels/guest.py) with
# their results on the second serial port (refbpf_results= on the command
# line: arm64's virt machine has one, the console), power off.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t bpf bpf /sys/fs/bpf
mount -t tmpfs tmp /tmp
ip link set lo up
results=$(sed -n 's/.*refbpf_results=\([^ ]*\).*/\1/p' /proc/cmdline)
results=${results:-/dev/ttyS1}
stty -F "$results" raw -echo 2>/dev/null
# the newest interpreter runs the checks
guest_py=$(grep -o '"path": "[^"]*"' /t/config.json | tail -n 1 | cut -d'"' -f4)
checks=$(sed -n 's/.*refbpf_checks=\([^ ]*\).*/\1/p' /proc/cmdline)
echo "refbpf-guest: $(uname -r), $(nproc) CPUs, checks with $guest_py"
cd /tmp && "$guest_py" /t/tests/guest.py "$results" $checks
echo "refbpf-guest: done ($?)"
poweroff -f
