/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * CPython line tables -> (instruction range, line). Three formats:
 * co_lnotab (3.8, 3.9), the PEP 626 table (3.10) and the PEP 657 location
 * table (3.11+). The bytes come from another process: every read is
 * bounds-checked and the output is bounded by the input's size.
 */
#ifndef REFBPF_LINETABLE_H
#define REFBPF_LINETABLE_H

#include <stddef.h>
#include <stdint.h>

/* [start, end) in code units (2 bytes); line -1: no line. */
struct line_range {
	uint32_t start, end;
	int32_t line;
};

struct line_table {
	struct line_range *ranges;	/* sorted, non-overlapping */
	size_t n;
};

/*
 * Decode `table` of `kind` (enum py_linetable_kind). `code_len_units` is
 * the code length in units when known (0 if not): it closes the last
 * co_lnotab range. Returns 0, -EINVAL for malformed input, -ENOMEM.
 */
int line_table_decode(struct line_table *out, int kind, const uint8_t *table, size_t len,
		      int firstlineno, size_t code_len_units);

/* Line of the instruction at code unit `unit`, -1 if it has none. */
int32_t line_table_lookup(const struct line_table *t, uint32_t unit);

void line_table_free(struct line_table *t);

#endif /* REFBPF_LINETABLE_H */
