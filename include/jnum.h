/*
 * jnum: numbers from JSON that came from outside (models, APIs, agent
 * CLIs, users), as integers without undefined behaviour: cJSON gives a
 * double, and converting one outside the integer's range is undefined.
 *
 *	long n = jnum_clamp(v, 0, 1000000, -1);	// -1 when not a number
 */
#ifndef PAI_JNUM_H
#define PAI_JNUM_H

#include <cjson/cJSON.h>

/* v's value bounded to [lo, hi], or dflt when v is not a number (NaN
 * included). */
static inline long long jnum_clamp(const cJSON *v, long long lo,
				   long long hi, long long dflt)
{
	double d;

	if (!cJSON_IsNumber(v))
		return dflt;
	d = v->valuedouble;
	if (d != d)
		return dflt;
	if (d <= (double)lo)
		return lo;
	if (d >= (double)hi)
		return hi;
	return (long long)d;
}

#endif
