/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The one way arrays grow: doubled when full, so appending n items costs
 * O(n) copies in all.
 */
#ifndef REFBPF_GROW_H
#define REFBPF_GROW_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * Room for item `n` (0-based) in the array at *arrp of `size`-byte items,
 * *cap of them allocated: when n does not fit, the capacity doubles
 * (`first` for an empty array). 0, or -ENOMEM with the array and *cap
 * untouched. Use GROW(), which takes the array itself.
 */
static inline int grow_array(void *arrp, size_t *cap, size_t n, size_t size, size_t first)
{
	size_t ncap = *cap ? *cap * 2 : first;
	void *arr, *grown;

	if (n < *cap)
		return 0;
	if (ncap <= n)
		ncap = n + 1;
	if (ncap > SIZE_MAX / size)
		return -ENOMEM;
	memcpy(&arr, arrp, sizeof(arr));
	grown = realloc(arr, ncap * size);
	if (!grown)
		return -ENOMEM;
	memcpy(arrp, &grown, sizeof(grown));
	*cap = ncap;
	return 0;
}

#define GROW(arr, cap, n, first) grow_array(&(arr), &(cap), (n), sizeof(*(arr)), (first))

/* Room for `more` items after the first `len`: a buffer appended to in
 * pieces. 0, or -ENOMEM with the array and *cap untouched. */
static inline int grow_room(void *arrp, size_t *cap, size_t len, size_t more, size_t size,
			    size_t first)
{
	if (!more)
		return 0;
	if (more > SIZE_MAX - len)
		return -ENOMEM;
	return grow_array(arrp, cap, len + more - 1, size, first);
}

#define GROW_ROOM(arr, cap, len, more, first) \
	grow_room(&(arr), &(cap), (len), (more), sizeof(*(arr)), (first))

#endif /* REFBPF_GROW_H */
