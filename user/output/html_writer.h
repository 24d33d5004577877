/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The HTML report (--html FILE): one self-contained file, no network, that
 * does what cprofilev and snakeviz do: the cumulative table sortable by
 * every column and filterable, each function's callers and callees with
 * their shares (click to follow; the browser's back button returns), and
 * a zoomable flame graph or icicle with search. The data is JSON in a
 * <script type="application/json"> element, escaped so that no name can
 * close it; the page's own script (user/output/assets/report.js) builds the page
 * with DOM text nodes only, so names never become markup.
 */
#ifndef REFBPF_HTML_WRITER_H
#define REFBPF_HTML_WRITER_H

#include "profile/profile.h"

/* Written atomically. 0 or -errno. */
int html_write(const char *path, const struct profile *p);

#endif /* REFBPF_HTML_WRITER_H */
