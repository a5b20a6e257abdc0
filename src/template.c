/*
 * template: task templates; see include/template.h.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "fsutil.h"
#include "quote.h"
#include "template.h"

#ifndef PAI_DATADIR
#define PAI_DATADIR "/usr/local/share/parallelai"
#endif
#ifndef PAI_SRCDIR
#define PAI_SRCDIR ""
#endif

/* A template larger than this is refused. */
#define TEMPLATE_MAX (256 << 10)

enum { ORIGINS = 3 };
static const char *const origins[ORIGINS] = { "repository", "user",
					      "shipped" };

/* The directory of origin k, in out; false when there is none. */
static bool dir_of(int k, const char *repo, char *out, size_t len)
{
	const char *x = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	struct stat st;

	switch (k) {
	case 0:
		snprintf(out, len, "%s/.parallelai/templates", repo);
		return true;
	case 1:
		if (x && *x == '/')
			snprintf(out, len, "%s/parallelai/templates", x);
		else if (home && *home)
			snprintf(out, len, "%s/.config/parallelai/templates",
				 home);
		else
			return false;
		return true;
	default:
		/* Installed, or else beside the sources of an uninstalled
		 * build (PARALLELAI_DATADIR says where, for tests). */
		x = getenv("PARALLELAI_DATADIR");
		snprintf(out, len, "%s/templates", x && *x ? x : PAI_DATADIR);
		if (stat(out, &st) == 0 || !*PAI_SRCDIR)
			return true;
		snprintf(out, len, "%s/templates", PAI_SRCDIR);
		return true;
	}
}

static bool name_ok(const char *s, size_t len)
{
	size_t i;

	if (!len || len > TEMPLATE_NAME_MAX || s[0] == '.')
		return false;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		      s[i] == '_' || s[i] == '.'))
			return false;
	return true;
}

/* The file's text (malloc'd) or NULL with why in err. */
static char *read_text(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t n;

	if (!f) {
		snprintf(err, errlen, "cannot read: %s", strerror(errno));
		return NULL;
	}
	if (!(buf = malloc(TEMPLATE_MAX + 1))) {
		fclose(f);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	n = fread(buf, 1, TEMPLATE_MAX + 1, f);
	fclose(f);
	if (n > TEMPLATE_MAX) {
		free(buf);
		snprintf(err, errlen, "larger than %d bytes", TEMPLATE_MAX);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

/* The template's JSON, checked: an object whose vars are objects with
 * a description and a string default or required. NULL and err. */
static cJSON *load(const char *path, char *err, size_t errlen)
{
	char *text = read_text(path, err, errlen);
	cJSON *root, *vars, *v, *d;

	if (!text)
		return NULL;
	root = cJSON_Parse(text);
	free(text);
	if (!cJSON_IsObject(root)) {
		snprintf(err, errlen, "not a JSON object");
		goto bad;
	}
	d = cJSON_GetObjectItemCaseSensitive(root, "description");
	if (d && !cJSON_IsString(d)) {
		snprintf(err, errlen, "'description' must be a string");
		goto bad;
	}
	vars = cJSON_GetObjectItemCaseSensitive(root, "vars");
	if (vars && !cJSON_IsObject(vars)) {
		snprintf(err, errlen, "'vars' must be an object");
		goto bad;
	}
	cJSON_ArrayForEach(v, vars) {
		d = cJSON_GetObjectItemCaseSensitive(v, "default");
		if (!cJSON_IsObject(v) || (d && !cJSON_IsString(d)) ||
		    !strcmp(v->string, "file") || !*v->string) {
			snprintf(err, errlen, "variable '%s': must be an object"
				 " with a string default or \"required\": true"
				 " (and not named file)", v->string);
			goto bad;
		}
	}
	return root;
bad:
	cJSON_Delete(root);
	return NULL;
}

static int info_fill(struct template_info *t, const char *name, size_t len,
		     const char *dir, int k)
{
	char path[PATH_MAX], err[256];
	cJSON *root, *d;

	memset(t, 0, sizeof(*t));
	memcpy(t->name, name, len);
	t->name[len] = '\0';
	snprintf(path, sizeof(path), "%s/%s.json", dir, t->name);
	if (!(t->path = strdup(path)))
		return -ENOMEM;
	t->origin = origins[k];
	if (!(root = load(path, err, sizeof(err)))) {
		t->error = strdup(err);
		return t->error ? 0 : -ENOMEM;
	}
	d = cJSON_GetObjectItemCaseSensitive(root, "description");
	if (d && !(t->description = strdup(d->valuestring))) {
		cJSON_Delete(root);
		return -ENOMEM;
	}
	cJSON_Delete(root);
	return 0;
}

void template_info_release(struct template_info *t)
{
	free(t->path);
	free(t->description);
	free(t->error);
	memset(t, 0, sizeof(*t));
}

void template_list_release(struct template_info *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		template_info_release(&v[i]);
	free(v);
}

int template_find(const char *repo, const char *name,
		  struct template_info *out)
{
	char dir[PATH_MAX], path[PATH_MAX + TEMPLATE_NAME_MAX + 8];
	struct stat st;
	int k;

	if (!name_ok(name, strlen(name)))
		return -EINVAL;
	for (k = 0; k < ORIGINS; k++) {
		if (!dir_of(k, repo, dir, sizeof(dir)))
			continue;
		snprintf(path, sizeof(path), "%s/%s.json", dir, name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			return info_fill(out, name, strlen(name), dir, k);
	}
	return -ENOENT;
}

static bool listed(const struct template_info *v, size_t n, const char *name,
		   size_t len)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strlen(v[i].name) == len && !strncmp(v[i].name, name, len))
			return true;
	return false;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct template_info *)a)->name,
		      ((const struct template_info *)b)->name);
}

/* The templates of one directory not listed yet, appended. */
static int list_dir(const char *dir, int k, struct template_info **v,
		    size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int r = 0;

	if (!d)
		return 0;
	while (!r && (de = readdir(d))) {
		size_t len = strlen(de->d_name);
		struct template_info *nv;

		if (len < 6 || strcmp(de->d_name + len - 5, ".json"))
			continue;
		len -= 5;
		if (!name_ok(de->d_name, len) || listed(*v, *n, de->d_name, len))
			continue;
		if (*n >= 4096 || !(nv = realloc(*v, (*n + 1) * sizeof(**v)))) {
			r = *n >= 4096 ? 0 : -ENOMEM;
			break;
		}
		*v = nv;
		if ((r = info_fill(&nv[*n], de->d_name, len, dir, k)) == 0)
			(*n)++;
	}
	closedir(d);
	return r;
}

int template_list(const char *repo, struct template_info **out, size_t *n)
{
	char dir[PATH_MAX];
	int k, r = 0;

	*out = NULL;
	*n = 0;
	for (k = 0; k < ORIGINS && !r; k++)
		if (dir_of(k, repo, dir, sizeof(dir)))
			r = list_dir(dir, k, out, n);
	if (r < 0) {
		template_list_release(*out, *n);
		*out = NULL;
		*n = 0;
		return r;
	}
	if (*n)
		qsort(*out, *n, sizeof(**out), by_name);
	return 0;
}

/* ---- filling in ---------------------------------------------------- */

/* s with every {name} of vars replaced by its value (malloc'd). */
static char *fill_text(const char *s, const cJSON *vals)
{
	size_t cap = strlen(s) + 1, len = 0;
	char *out = malloc(cap), *o;
	const cJSON *v;

	while (out && *s) {
		const char *val = NULL;
		size_t skip = 1, vl;

		if (*s == '{')
			cJSON_ArrayForEach(v, vals) {
				size_t nl = strlen(v->string);

				if (!strncmp(s + 1, v->string, nl) &&
				    s[1 + nl] == '}') {
					val = v->valuestring;
					skip = nl + 2;
					break;
				}
			}
		vl = val ? strlen(val) : 1;
		if (len + vl + 1 > cap) {
			cap = (len + vl + 1) * 2;
			if (!(o = realloc(out, cap))) {
				free(out);
				return NULL;
			}
			out = o;
		}
		memcpy(out + len, val ? val : s, vl);
		len += vl;
		s += skip;
	}
	if (out)
		out[len] = '\0';
	return out;
}

/* Strings of node (an object's fields named in keys, or all of an array
 * or a "then") filled in, in place. */
static int fill_node(cJSON *node, const cJSON *vals, bool all)
{
	static const char *const keys[] = { "prompt", "each", "paths", "then",
					    "check", "labels" };
	cJSON *e;
	size_t i;
	char *s;

	if (cJSON_IsString(node)) {
		if (!(s = fill_text(node->valuestring, vals)))
			return -ENOMEM;
		cJSON_SetValuestring(node, s);
		free(s);
		return 0;
	}
	cJSON_ArrayForEach(e, node) {
		bool named = all || !cJSON_IsObject(node);

		for (i = 0; !named && i < sizeof(keys) / sizeof(keys[0]); i++)
			named = !strcmp(e->string, keys[i]);
		if (named && fill_node(e, vals, false) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* The values of the variables: given, else defaults; EINVAL names what
 * is unknown, not a string or missing. */
static int values(const cJSON *decl, const cJSON *given, cJSON *out,
		  const char *name, char *err, size_t errlen)
{
	const cJSON *v, *d;

	if (given && !cJSON_IsObject(given)) {
		snprintf(err, errlen, "template '%s': 'vars' must be an object",
			 name);
		return -EINVAL;
	}
	cJSON_ArrayForEach(v, given) {
		if (!cJSON_GetObjectItemCaseSensitive(decl, v->string)) {
			snprintf(err, errlen, "template '%s': unknown variable"
				 " '%s'", name, v->string);
			return -EINVAL;
		}
		if (!cJSON_IsString(v)) {
			snprintf(err, errlen, "template '%s': variable '%s'"
				 " must be a string", name, v->string);
			return -EINVAL;
		}
		cJSON_AddStringToObject(out, v->string, v->valuestring);
	}
	cJSON_ArrayForEach(d, decl) {
		const cJSON *def = cJSON_GetObjectItemCaseSensitive(d, "default");

		if (cJSON_GetObjectItemCaseSensitive(out, d->string))
			continue;
		if (!def) {
			snprintf(err, errlen, "template '%s': missing variable"
				 " '%s'", name, d->string);
			return -EINVAL;
		}
		cJSON_AddStringToObject(out, d->string, def->valuestring);
	}
	return 0;
}

/* The submission over the filled-in template: into *spec. */
static int apply(cJSON *sub, const char *name, const char *repo,
		 char **spec, char *err, size_t errlen)
{
	struct template_info ti;
	cJSON *t = NULL, *vals = cJSON_CreateObject(), *e;
	char why[256];
	int r;

	if ((r = template_find(repo, name, &ti)) < 0) {
		snprintf(err, errlen, r == -ENOENT ? "unknown template '%s'" :
			 "invalid template name '%s'", name);
		cJSON_Delete(vals);
		return r == -ENOMEM ? r : -EINVAL;
	}
	if (!(t = load(ti.path, why, sizeof(why)))) {
		snprintf(err, errlen, "template '%s' (%s): %s", name, ti.path,
			 why);
		r = -EINVAL;
		goto out;
	}
	if (!vals || (r = values(cJSON_GetObjectItemCaseSensitive(t, "vars"),
				 cJSON_GetObjectItemCaseSensitive(sub, "vars"),
				 vals, name, err, errlen)) < 0)
		goto out;
	cJSON_DeleteItemFromObjectCaseSensitive(t, "vars");
	cJSON_DeleteItemFromObjectCaseSensitive(t, "description");
	if ((r = fill_node(t, vals, false)) < 0)
		goto out;
	/* The submission's own fields win. */
	cJSON_ArrayForEach(e, sub) {
		if (!strcmp(e->string, "template") || !strcmp(e->string, "vars"))
			continue;
		cJSON_DeleteItemFromObjectCaseSensitive(t, e->string);
		cJSON_AddItemToObject(t, e->string, cJSON_Duplicate(e, 1));
	}
	r = (*spec = cJSON_PrintUnformatted(t)) ? 0 : -ENOMEM;
out:
	cJSON_Delete(t);
	cJSON_Delete(vals);
	template_info_release(&ti);
	return r;
}

int template_apply(const char *repo, const char *text, size_t len,
		   char **spec, char *err, size_t errlen)
{
	cJSON *sub = cJSON_ParseWithLength(text, len), *name;
	int r = 0;

	*spec = NULL;
	name = cJSON_IsObject(sub) ?
	       cJSON_GetObjectItemCaseSensitive(sub, "template") : NULL;
	if (name && !cJSON_IsString(name)) {
		snprintf(err, errlen, "task spec: 'template' must be a name");
		r = -EINVAL;
	} else if (name) {
		r = apply(sub, name->valuestring, repo, spec, err, errlen);
	}
	cJSON_Delete(sub);
	return r;
}

/* ---- in the mount -------------------------------------------------- */

int template_render(const char *repo, const char *name, struct buf *out)
{
	struct template_info ti;
	char err[256], *text;
	int r;

	if ((r = template_find(repo, name, &ti)) < 0)
		return r == -EINVAL ? -ENOENT : r;
	text = read_text(ti.path, err, sizeof(err));
	r = text ? buf_puts(out, text) :
		   buf_printf(out, "parallelai: %s: %s\n", ti.path, err);
	free(text);
	template_info_release(&ti);
	return r;
}

/* "  name: description (required | default: x)" per variable. */
static int render_vars(const char *path, struct buf *out)
{
	char err[256];
	cJSON *root = load(path, err, sizeof(err)), *v, *d, *def;
	int r = 0;

	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(root, "vars")) {
		d = cJSON_GetObjectItemCaseSensitive(v, "description");
		def = cJSON_GetObjectItemCaseSensitive(v, "default");
		if ((r = buf_printf(out, "var: %s", v->string)) < 0 ||
		    (def && (r = buf_puts(out, " default=")) < 0) ||
		    (def && (r = quote_text_buf(out, def->valuestring)) < 0) ||
		    (!def && (r = buf_puts(out, " required")) < 0) ||
		    (cJSON_IsString(d) &&
		     ((r = buf_puts(out, " -- ")) < 0 ||
		      (r = quote_text_buf(out, d->valuestring)) < 0)) ||
		    (r = buf_puts(out, "\n")) < 0)
			break;
	}
	cJSON_Delete(root);
	return r;
}

int template_render_status(const char *repo, const char *name,
			   struct buf *out)
{
	struct template_info ti;
	int r;

	if ((r = template_find(repo, name, &ti)) < 0)
		return r == -EINVAL ? -ENOENT : r;
	if ((r = buf_printf(out, "name: %s\norigin: %s\nfile: ", ti.name,
			    ti.origin)) < 0 ||
	    (r = quote_text_buf(out, ti.path)) < 0 ||
	    (r = buf_puts(out, "\n")) < 0)
		goto out;
	if (ti.error) {
		r = buf_printf(out, "error: %s\n", ti.error);
		goto out;
	}
	if (ti.description &&
	    ((r = buf_puts(out, "description: ")) < 0 ||
	     (r = quote_text_buf(out, ti.description)) < 0 ||
	     (r = buf_puts(out, "\n")) < 0))
		goto out;
	r = render_vars(ti.path, out);
out:
	template_info_release(&ti);
	return r;
}

int template_readme(struct buf *out)
{
	return buf_puts(out,
"Task templates: task specs with named variables.\n"
"\n"
"Each template is listed here by name: NAME is its file as found\n"
"(read-only), NAME.status says where it came from (origin: repository,\n"
"user or shipped), its description and variables, or why it does not\n"
"parse. The first place that has a NAME wins:\n"
"\n"
"  the repository     .parallelai/templates/NAME.json (commit it: shared\n"
"                     with the team)\n"
"  the user           $XDG_CONFIG_HOME/parallelai/templates/NAME.json\n"
"                     (~/.config/parallelai/templates/ by default)\n"
"  shipped            review, tests, docs, types, security-review\n"
"\n"
"A template is a task spec (see ../README) with {var} for a variable\n"
"in prompt, each, paths, then, check and labels, and two fields of its\n"
"own: a one-line description, and vars, from each variable's name to\n"
"{\"description\": \"...\", \"default\": \"...\"} or\n"
"{\"description\": \"...\", \"required\": true}. {file} stays the file of\n"
"an each. For example, .parallelai/templates/greet.json:\n"
"\n"
"  {\"description\": \"greet someone\",\n"
"   \"vars\": {\"name\": {\"description\": \"who\", \"required\": true}},\n"
"   \"prompt\": \"echo hello {name} > greet.txt\", \"engine\": \"sh\",\n"
"   \"paths\": [\"greet.txt\"]}\n"
"\n"
"Use one by writing to tasks/new:\n"
"\n"
"  echo '{\"template\": \"greet\", \"vars\": {\"name\": \"bob\"}}' > tasks/new\n"
"  echo '{\"template\": \"tests\", \"vars\": {\"files\": \"src/*.c\"},\n"
"        \"engine\": \"codex\"}' > tasks/new\n"
"\n"
"Any other field of the spec overrides the template's. An unknown\n"
"template, a missing required variable, an unknown one, one that is not\n"
"a string, or a spec that is not valid once filled in: the write fails\n"
"(EINVAL), nothing is made, and events says why (refused).\n");
}
