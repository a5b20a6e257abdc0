/*
 * ctl: the words of one command line written to a ctl file.
 *
 *	char verb[32];
 *	long num;
 *	switch (ctl_parse("workers 4", verb, sizeof(verb), &num)) {
 *	case 1: ...	// "pause": a verb alone
 *	case 2: ...	// "workers 4": a verb and a number (may be negative)
 *	default: ...	// 0: anything else, refused with EINVAL
 *	}
 *
 * Blanks around the words are allowed; anything after the number, a
 * number that does not fit a long, or a verb longer than vlen - 1 is not.
 */
#ifndef PAI_CTL_H
#define PAI_CTL_H

#include <stddef.h>

int ctl_parse(const char *line, char *verb, size_t vlen, long *num);

#endif
