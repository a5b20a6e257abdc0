/*
 * template: task templates, specs with named variables that a team keeps
 * with its code. A template is a JSON file NAME.json holding a spec's own
 * fields at its top level, where {var} stands for a variable in prompt,
 * each, paths, then, check and labels, and two fields of its own:
 *
 *	{"description": "greet someone",
 *	 "vars": {"name": {"description": "who", "required": true},
 *		  "greeting": {"description": "how", "default": "hello"}},
 *	 "prompt": "echo {greeting} {name} > greet.txt", "engine": "sh"}
 *
 * Found in three places, the first that has NAME wins: the repository's
 * checkout (.parallelai/templates/), the user's
 * ($XDG_CONFIG_HOME/parallelai/templates/, ~/.config by default), and
 * those that ship with parallelai (the data directory's templates/).
 *
 * A submission {"template": "tests", "vars": {"files": "src/x.c"}, ...}
 * is the template with its variables filled in and the submission's
 * other fields over the template's.
 */
#ifndef PAI_TEMPLATE_H
#define PAI_TEMPLATE_H

#include <stddef.h>

/* A name: letters, digits, '-', '_' and '.', not first, at most this. */
#define TEMPLATE_NAME_MAX 64

struct template_info {
	char name[TEMPLATE_NAME_MAX + 1];
	char *path;		/* the file */
	const char *origin;	/* "repository", "user" or "shipped" */
	char *description;	/* NULL when none or it does not parse */
	char *error;		/* why it does not parse, or NULL */
};

/* Every template by name, ascending, the one that wins for each name.
 * *out is malloc'd (NULL when none). */
int template_list(const char *repo, struct template_info **out, size_t *n);
/* The one named name: 0, -ENOENT, -EINVAL for a bad name. */
int template_find(const char *repo, const char *name,
		  struct template_info *out);
void template_info_release(struct template_info *t);
void template_list_release(struct template_info *v, size_t n);

/*
 * text, when it is a JSON object with a "template" field, as the spec it
 * stands for: 0 and *spec (malloc'd JSON text); 0 with *spec NULL when
 * it names no template (a spec or a prompt of its own); -EINVAL with the
 * name of what is wrong in err (an unknown template, a missing required
 * variable, an unknown one, a template that does not parse).
 */
int template_apply(const char *repo, const char *text, size_t len,
		   char **spec, char *err, size_t errlen);

struct buf;
/* The mount's templates/NAME: the file as found; -ENOENT. */
int template_render(const char *repo, const char *name, struct buf *out);
/* templates/NAME.status: where it came from, its description and
 * variables, or why it does not parse. */
int template_render_status(const char *repo, const char *name,
			   struct buf *out);
/* templates/README: how to write one and use it. */
int template_readme(struct buf *out);

#endif
