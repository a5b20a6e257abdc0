/*
 * dash/common: escaping, first lines, fixed-width durations and times,
 * the dashboard's now and its colours (dashint.h).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "pai.h"
#include "scheduler.h"
#include "store.h"
#include "dashint.h"

#define REPLACEMENT "\xEF\xBF\xBD"	/* U+FFFD */

/* The length of the valid UTF-8 sequence at s (1..4), or 0. Overlong
 * forms, surrogates and code points past U+10FFFF are invalid. */
static size_t utf8_len(const unsigned char *s, size_t left)
{
	size_t n, i;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		n = 2, cp = s[0] & 0x1F;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		n = 3, cp = s[0] & 0x0F;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n > left)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3F);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) ||
	    cp == 0xFFFE || cp == 0xFFFF)
		return 0;
	return n;
}

static const char *entity(unsigned char c)
{
	switch (c) {
	case '&': return "&amp;";
	case '<': return "&lt;";
	case '>': return "&gt;";
	case '"': return "&quot;";
	case '\'': return "&#39;";
	default: return NULL;
	}
}

int dash_escape(struct buf *out, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, run = 0, n;
	int r = 0;

	while (i < len && r == 0) {
		const char *e = entity(u[i]);
		bool bad = u[i] < 0x20 && u[i] != '\t' && u[i] != '\n';

		n = bad || e ? 0 : utf8_len(u + i, len - i);
		if (n) {
			i += n;
			run += n;
			continue;
		}
		r = buf_add(out, s + i - run, run);
		run = 0;
		if (r == 0)
			r = buf_puts(out, e ? e : REPLACEMENT);
		i++;
	}
	if (r == 0 && run)
		r = buf_add(out, s + i - run, run);
	return r;
}

int dash_escape_str(struct buf *out, const char *s)
{
	return s ? dash_escape(out, s, strlen(s)) : 0;
}

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

const char *dash_first_line(const char *s, size_t len, size_t max,
			    size_t *n)
{
	size_t i = 0, end;

	while (i < len && blank(s[i]))
		i++;
	end = i;
	while (end < len && s[end] != '\n')
		end++;
	while (end > i && blank(s[end - 1]))
		end--;
	if (end - i > max) {
		end = i + max;
		/* not inside a UTF-8 sequence */
		while (end > i && ((unsigned char)s[end] & 0xC0) == 0x80)
			end--;
	}
	*n = end - i;
	return s + i;
}

void dash_duration(int64_t ms, char out[16])
{
	char v[16];
	long long s = ms > 0 ? ms / 1000 : 0;

	if (s < 60)
		snprintf(v, sizeof(v), "%llds", s);
	else if (s < 3600)
		snprintf(v, sizeof(v), "%lldm%02llds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(v, sizeof(v), "%lldh%02lldm", s / 3600, s / 60 % 60);
	else if (s < 100000LL * 86400)
		snprintf(v, sizeof(v), "%lldd%02lldh", s / 86400,
			 s / 3600 % 24);
	else
		snprintf(v, sizeof(v), ">99999d");
	snprintf(out, 16, "%8s", v);
}

void dash_clock(int64_t ms, bool wide, char out[16])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 16, wide ? "%m-%d %H:%M" : "%H:%M:%S", &tm);
}

int64_t dash_now(struct pai *p, bool *live)
{
	int64_t last;

	*live = sched_busy(p->sched) > 0;
	/* whole seconds: a stat and the read after it mostly agree */
	if (*live)
		return pai_now_ms() / 1000 * 1000;
	last = store_last_change(p->store);
	return last > p->started ? last : p->started;
}

const char *dash_colour(const char *outcome)
{
	static const struct { const char *name, *colour; } tab[] = {
		{ "running", "#2f7fd8" }, { "done", "#2e9d4e" },
		{ "merged", "#1b6b35" }, { "failed", "#d43c3c" },
		{ "cancelled", "#8a8a8a" }, { "blocked", "#9b59b6" },
		{ "requeued", "#e0a030" }, { "queued", "#c8c8c8" },
		{ "waiting", "#b0c4de" }, { "rejected", "#b8621b" },
	};
	size_t i;

	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (!strcmp(tab[i].name, outcome))
			return tab[i].colour;
	return "#555555";
}
