/*
 * ctl: split a ctl command line; see include/ctl.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

int ctl_parse(const char *line, char *verb, size_t vlen, long *num)
{
	const char *p = line, *w;
	char *end;
	size_t n;

	while (*p == ' ' || *p == '\t')
		p++;
	for (w = p; *p && *p != ' ' && *p != '\t'; p++)
		;
	n = (size_t)(p - w);
	if (!n || n >= vlen)
		return 0;
	memcpy(verb, w, n);
	verb[n] = '\0';
	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p)
		return 1;
	if ((*p < '0' || *p > '9') && *p != '-')
		return 0;
	errno = 0;
	*num = strtol(p, &end, 10);
	if (errno || end == p)
		return 0;
	while (*end == ' ' || *end == '\t')
		end++;
	return *end ? 0 : 2;
}
