/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * --native: code address -> profile functions, with libdw: the ELF symbol,
 * and where DWARF exists the functions inlined at that address and source
 * lines. Cached per address for one process.
 *
 * A native function is keyed as cProfile keys C functions, ("~", 0,
 * "<native SYMBOL [MODULE]>"), which pstats prints as
 * {native SYMBOL [MODULE]}; its qualified name, what the flame graph,
 * folded stacks and the table show, is "SYMBOL [MODULE]". A function
 * inlined at the address is "SYMBOL [MODULE] (inlined)"; an address in no
 * symbol "?? [MODULE]". MODULE is the file's base name.
 */
#ifndef REFBPF_NATIVE_SYMBOLS_H
#define REFBPF_NATIVE_SYMBOLS_H

#include <elfutils/libdwfl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "profile/profile.h"

/* The pstats-name prefix that marks a native function (see profile.h). */
#define NATIVE_NAME_PREFIX "<native "

/* Functions one address may expand to (itself and those inlined there). */
#define NATIVE_MAX_INLINE 8

struct native_symbols;

/* One per process; borrows `prof` for interning functions. */
struct native_symbols *native_symbols_new(struct profile *prof);
void native_symbols_free(struct native_symbols *s);

/* Forget every cached address (the process's modules changed). */
void native_symbols_clear(struct native_symbols *s);

/* What one native address is. */
struct native_site {
	const struct pframe *frames;	/* innermost first; valid until the next call */
	uint32_t nframes;
	bool eval_loop;		/* in an activation of CPython's eval loop */
};

/* Resolve `pc` (an address inside the instruction). 0 or -ENOMEM. */
int native_symbols_resolve(struct native_symbols *s, Dwfl *dwfl, uint64_t pc,
			   struct native_site *out);

/* Addresses looked up in the files so far (cache misses), and in *ns the
 * nanoseconds that took, for -v. */
uint64_t native_symbols_described(const struct native_symbols *s, uint64_t *ns);

/* Is `name` (an ELF or DWARF function name) CPython's eval loop?
 * _PyEval_EvalFrameDefault, or a compiler's part of it (.cold, .lto_priv). */
bool native_is_eval_loop(const char *name);

#endif /* REFBPF_NATIVE_SYMBOLS_H */
