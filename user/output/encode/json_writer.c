// SPDX-License-Identifier: BSD-2-Clause
#include "output/encode/json_writer.h"

#include <errno.h>
#include <inttypes.h>

#include "base/escape.h"

void json_init(struct json_writer *w, FILE *f)
{
	*w = (struct json_writer){ .f = f };
}

/* The stream's failure as -errno where stdio left one (EFBIG, ENOSPC). */
static void check(struct json_writer *w, int ret)
{
	if (ret < 0 && !w->err)
		w->err = errno ? -errno : -EIO;
}

/* The separator owed before a value at the current depth. */
static void before_value(struct json_writer *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (w->need_comma[w->depth])
		check(w, fputc(',', w->f));
	w->need_comma[w->depth] = true;
}

static void open_nested(struct json_writer *w, char c)
{
	before_value(w);
	check(w, fputc(c, w->f));
	if (w->depth + 1 >= JSON_MAX_DEPTH) {
		w->err = w->err ? w->err : -EINVAL;
		return;
	}
	w->need_comma[++w->depth] = false;
}

static void close_nested(struct json_writer *w, char c)
{
	if (!w->depth || w->after_key) {
		w->err = w->err ? w->err : -EINVAL;
		return;
	}
	w->depth--;
	check(w, fputc(c, w->f));
}

void json_object_start(struct json_writer *w)
{
	open_nested(w, '{');
}

void json_object_end(struct json_writer *w)
{
	close_nested(w, '}');
}

void json_array_start(struct json_writer *w)
{
	open_nested(w, '[');
}

void json_array_end(struct json_writer *w)
{
	close_nested(w, ']');
}

void json_key(struct json_writer *w, const char *key)
{
	json_string(w, key);
	check(w, fputc(':', w->f));
	w->after_key = true;
}

void json_string(struct json_writer *w, const char *s)
{
	before_value(w);
	check(w, fputc('"', w->f));
	if (escape_json_fputs(s, w->f))
		check(w, -1);
	check(w, fputc('"', w->f));
}

void json_uint(struct json_writer *w, uint64_t v)
{
	before_value(w);
	check(w, fprintf(w->f, "%" PRIu64, v));
}

void json_int(struct json_writer *w, int64_t v)
{
	before_value(w);
	check(w, fprintf(w->f, "%" PRId64, v));
}

void json_number(struct json_writer *w, const char *literal)
{
	before_value(w);
	check(w, fputs(literal, w->f));
}

int json_error(const struct json_writer *w)
{
	return w->err;
}
