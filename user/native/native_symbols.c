// SPDX-License-Identifier: BSD-2-Clause
/*
 * The ELF symbol names the function an address is in (what perf shows);
 * DWARF, when the module or its debug file has it, adds the functions
 * inlined at that address (the DW_TAG_inlined_subroutine DIEs that contain
 * it, found by our own bounded walk) and the source line of each: the address's own line for the
 * innermost, the call site (DW_AT_call_line) for the ones around it.
 */
#include "native/native_symbols.h"

#include "base/clock.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVAL_LOOP "_PyEval_EvalFrameDefault"
#define NAME_MAX_LEN 512

struct site_entry {
	uint64_t pc;
	bool used, eval_loop;
	uint32_t nframes;
	struct pframe frames[NATIVE_MAX_INLINE];
};

struct native_symbols {
	struct profile *prof;
	struct site_entry *slots;
	size_t nslots, nused;
	uint64_t described;	/* addresses looked up in the files */
	uint64_t describe_ns;	/* and the time that took */
};

bool native_is_eval_loop(const char *name)
{
	size_t n = strlen(EVAL_LOOP);

	return name && !strncmp(name, EVAL_LOOP, n) && (name[n] == 0 || name[n] == '.');
}

struct native_symbols *native_symbols_new(struct profile *prof)
{
	struct native_symbols *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->prof = prof;
	s->nslots = 1024;
	s->slots = calloc(s->nslots, sizeof(*s->slots));
	if (!s->slots) {
		free(s);
		return NULL;
	}
	return s;
}

void native_symbols_free(struct native_symbols *s)
{
	if (!s)
		return;
	free(s->slots);
	free(s);
}

void native_symbols_clear(struct native_symbols *s)
{
	memset(s->slots, 0, s->nslots * sizeof(*s->slots));
	s->nused = 0;
}

static struct site_entry *find_slot(struct site_entry *slots, size_t nslots, uint64_t pc)
{
	size_t mask = nslots - 1, i = (size_t)((pc * 0x9e3779b97f4a7c15ull) >> 20) & mask;

	while (slots[i].used && slots[i].pc != pc)
		i = (i + 1) & mask;
	return &slots[i];
}

static int rehash_doubled(struct native_symbols *s)
{
	size_t n = s->nslots * 2;
	struct site_entry *slots = calloc(n, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < s->nslots; i++)
		if (s->slots[i].used)
			*find_slot(slots, n, s->slots[i].pc) = s->slots[i];
	free(s->slots);
	s->slots = slots;
	s->nslots = n;
	return 0;
}

static const char *base_name(const char *path)
{
	/* "[vdso]" in /proc/PID/maps: brackets would read as the module's */
	if (path && !strcmp(path, "[vdso]"))
		return "vdso";
	const char *slash = path ? strrchr(path, '/') : NULL;

	return slash ? slash + 1 : path ? path : "unknown";
}

/* Intern ("~", 0, "<native NAME [MODULE]SUFFIX>") with qualname
 * "NAME [MODULE]SUFFIX". Returns 0 or -ENOMEM. */
static int intern(struct native_symbols *s, const char *name, const char *module, bool inlined,
		  int32_t line, struct pframe *out)
{
	char qual[NAME_MAX_LEN], key[NAME_MAX_LEN + 16];
	/* a symbol's version (memcpy@@GLIBC_2.14) is not part of its name */
	int len = (int)strcspn(name, "@");
	int64_t f;

	snprintf(qual, sizeof(qual), "%.*s [%s]%s", len, name, module, inlined ? " (inlined)" : "");
	snprintf(key, sizeof(key), NATIVE_NAME_PREFIX "%s>", qual);
	f = profile_intern_func(s->prof, "~", 0, key, qual);
	if (f < 0)
		return -ENOMEM;
	out->func = (uint32_t)f;
	out->line = line;
	return 0;
}

static const char *die_name(Dwarf_Die *die)
{
	Dwarf_Attribute attr;

	/* an inlined instance names its function through abstract_origin */
	if (!dwarf_attr_integrate(die, DW_AT_name, &attr))
		return NULL;
	return dwarf_formstring(&attr);
}

static int32_t call_line(Dwarf_Die *die)
{
	Dwarf_Attribute attr;
	Dwarf_Word line;

	if (!dwarf_attr(die, DW_AT_call_line, &attr) || dwarf_formudata(&attr, &line) ||
	    line > INT32_MAX)
		return -1;
	return (int32_t)line;
}

/* The source line of `pc` itself, -1 when unknown. */
static int32_t source_line(Dwfl_Module *mod, uint64_t pc)
{
	Dwfl_Line *l = dwfl_module_getsrc(mod, pc);
	int line = 0;

	if (!l || !dwfl_lineinfo(l, NULL, &line, NULL, NULL, NULL) || line <= 0)
		return -1;
	return line;
}

/* How deep DIEs nest before the innermost inlined call is found: C++
 * namespaces and classes, lexical blocks, inlined calls. */
#define MAX_DIE_DEPTH 32

/*
 * The scopes that contain `pc` below `parent`: the function, then each
 * call inlined in it, outermost first, into chain[*n...]. Lexical blocks
 * are walked through, namespaces and classes searched (C++ defines
 * functions inside them). Returns whether a function was found. Depth is
 * bounded: the DWARF comes from the target's files.
 */
static bool find_scopes(Dwarf_Die *parent, Dwarf_Addr pc, Dwarf_Die *chain, int *n, int depth)
{
	Dwarf_Die child;

	if (depth >= MAX_DIE_DEPTH || dwarf_child(parent, &child) != 0)
		return false;
	do {
		int tag = dwarf_tag(&child);

		switch (tag) {
		case DW_TAG_subprogram:
		case DW_TAG_inlined_subroutine:
		case DW_TAG_lexical_block:
			if (dwarf_haspc(&child, pc) <= 0)
				break;
			if (tag != DW_TAG_lexical_block && *n < NATIVE_MAX_INLINE)
				chain[(*n)++] = child;
			find_scopes(&child, pc, chain, n, depth + 1);
			return true;
		case DW_TAG_namespace:
		case DW_TAG_class_type:
		case DW_TAG_structure_type:
			if (find_scopes(&child, pc, chain, n, depth + 1))
				return true;
			break;
		}
	} while (dwarf_siblingof(&child, &child) == 0);
	return false;
}

/*
 * Fill `e` for the address: inlined functions (DWARF) then the function
 * that contains them, named by its ELF symbol when there is one.
 */
static int describe(struct native_symbols *s, Dwfl *dwfl, uint64_t pc, struct site_entry *e)
{
	Dwfl_Module *mod = dwfl ? dwfl_addrmodule(dwfl, pc) : NULL;
	const char *path = mod ? dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL, NULL, NULL) :
				 NULL;
	const char *module = mod ? base_name(path) : "unknown";
	const char *sym = mod ? dwfl_module_addrname(mod, pc) : NULL;
	int32_t line = mod ? source_line(mod, pc) : -1;
	Dwarf_Die chain[NATIVE_MAX_INLINE];
	Dwarf_Addr bias = 0;
	Dwarf_Die *cu = mod ? dwfl_module_addrdie(mod, pc, &bias) : NULL;
	int nchain = 0;
	const char *outer = sym;
	int err = 0;

	if (cu)
		find_scopes(cu, pc - bias, chain, &nchain, 0);
	e->nframes = 0;
	/* chain[0] is the function; the inlined calls follow, innermost last */
	for (int i = nchain - 1; i >= 1 && !err; i--) {
		const char *name = die_name(&chain[i]);

		err = intern(s, name ? name : "??", module, true, line, &e->frames[e->nframes++]);
		line = call_line(&chain[i]);
	}
	if (nchain) {
		if (!outer)
			outer = die_name(&chain[0]);
		e->eval_loop |= native_is_eval_loop(die_name(&chain[0]));
	}
	e->eval_loop |= native_is_eval_loop(sym);
	if (!err)
		err = intern(s, outer ? outer : "??", module, false, line, &e->frames[e->nframes++]);
	/* The eval loop's inlined helpers are the interpreter's inside,
	 * not calls: the activation stands for Python frames alone. */
	if (e->eval_loop)
		e->nframes = 0;
	return err;
}

int native_symbols_resolve(struct native_symbols *s, Dwfl *dwfl, uint64_t pc,
			   struct native_site *out)
{
	struct site_entry *e = find_slot(s->slots, s->nslots, pc);

	if (!e->used) {
		struct site_entry fresh = { .pc = pc, .used = true };
		double t0 = monotonic_s();
		int err = describe(s, dwfl, pc, &fresh);

		s->described++;
		s->describe_ns += (uint64_t)((monotonic_s() - t0) * 1e9);
		if (err)
			return err;
		if ((s->nused + 1) * 2 > s->nslots) {
			if (rehash_doubled(s))
				return -ENOMEM;
			e = find_slot(s->slots, s->nslots, pc);
		}
		*e = fresh;
		s->nused++;
	}
	out->frames = e->frames;
	out->nframes = e->nframes;
	out->eval_loop = e->eval_loop;
	return 0;
}

uint64_t native_symbols_described(const struct native_symbols *s, uint64_t *ns)
{
	*ns = s->describe_ns;
	return s->described;
}
