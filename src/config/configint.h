/*
 * configint: what the files of src/config/ share. Not for use outside
 * it; the interface is include/config.h.
 */
#ifndef PAI_CONFIGINT_H
#define PAI_CONFIGINT_H

#include <stddef.h>

struct config;

/* config.c */
/* true/yes/1 or false/no/0, as 1 or 0; -1 for anything else */
int cf_parse_bool(const char *v);
/* *dst becomes a copy of v (NULL: none), the old one freed */
void cf_set_str(char **dst, const char *v);
/* v as a whole number in min..max: 0, or -1 */
int cf_parse_long(const char *v, long min, long max, long *out);

/* sections.c */
int cf_add_str(char ***list, size_t *n, const char *value);
void cf_free_strs(char **list, size_t n);
/* One entry of the configuration outside parallelai.KEY (engine.NAME.KEY,
 * notify.NAME.KEY, price.MODEL.KEY, sim.KEY ...): 0, or -EINVAL with err */
int cf_read_entry(struct config *c, const char *name, const char *value,
		  char *err, size_t errlen);

#endif
