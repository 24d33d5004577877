/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The hash of the BPF program's and userspace's tables. Kernel types, no
 * includes: the BPF side gets them from vmlinux.h, userspace from
 * <linux/types.h>.
 */
#ifndef REFBPF_MIX64_H
#define REFBPF_MIX64_H

/*
 * A 64-bit hash that spreads any input over all its bits. Addresses are
 * anything but random: code objects of one size lie a fixed stride apart
 * in an allocator's pool, and a plain multiplicative hash maps such runs
 * onto a few slots of a table.
 */
static inline __u64 refbpf_mix64(__u64 h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

#endif /* REFBPF_MIX64_H */
