/*
 * fuzz_ctl: a line written to a ctl file, through ctl_parse, as the
 * scheduler reads it before acting on it.
 *
 *	tests/fuzz/run ctl
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = malloc(size + 1), verb[32];
	long num = 0;

	if (!line)
		return 0;
	/* fs splits writes into NUL-terminated lines */
	memcpy(line, data, size);
	line[size] = '\0';
	ctl_parse(line, verb, sizeof(verb), &num);
	ctl_parse(line, verb, 2, &num);
	free(line);
	return 0;
}
