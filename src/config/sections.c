/*
 * config/sections: the sections of the configuration beside
 * parallelai.KEY: [engine "NAME"], [notify "NAME"], [price "MODEL"],
 * worktree.copy, [policy] and engine.NAME.policy*, [sim], [slurm],
 * bedrock and vertex, read entry by entry (cf_read_entry).
 */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <git2.h>
#include "config.h"
#include "configint.h"
#include "policy.h"
#include "provider.h"

/* -EINVAL, saying why in err: an unknown key (value NULL) or a value it
 * does not take. */
static int refuse(char *err, size_t errlen, const char *key,
		  const char *value)
{
	if (value)
		snprintf(err, errlen, "config %s: invalid value '%s'", key,
			 value);
	else
		snprintf(err, errlen, "config %s: unknown key", key);
	return -EINVAL;
}

static struct engine_def *engine_slot(struct config *c, const char *name)
{
	struct engine_def *e;
	size_t i;

	for (i = 0; i < c->n_engines; i++)
		if (!strcmp(c->engines[i].name, name))
			return &c->engines[i];
	e = realloc(c->engines, (c->n_engines + 1) * sizeof(*e));
	if (!e)
		return NULL;
	c->engines = e;
	e += c->n_engines;
	memset(e, 0, sizeof(*e));
	e->name = strdup(name);
	if (!e->name)
		return NULL;
	c->n_engines++;
	return e;
}

/* One more string on a list that the key may repeat. */
int cf_add_str(char ***list, size_t *n, const char *value)
{
	char **v = realloc(*list, (*n + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	*list = v;
	if (!(v[*n] = strdup(value)))
		return -ENOMEM;
	(*n)++;
	return 0;
}

void cf_free_strs(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

/* engine.NAME.KEY: libgit2 lowercases section and key, not NAME. */
static int read_engine(struct config *c, const char *key, const char *value,
		       char *err, size_t errlen)
{
	const char *name = key + strlen("engine."), *dot = strrchr(key, '.');
	struct engine_def *e;
	const char *k;
	char *n;
	long num;

	if (dot <= name)
		return 0;
	n = strndup(name, (size_t)(dot - name));
	if (!n)
		return -ENOMEM;
	e = engine_slot(c, n);
	free(n);
	if (!e)
		return -ENOMEM;
	k = dot + 1;
	if (!strcmp(k, "command")) {
		cf_set_str(&e->command, value);
	} else if (!strcmp(k, "model")) {
		cf_set_str(&e->model, value);
	} else if (!strcmp(k, "args")) {
		cf_set_str(&e->args, value);
	} else if (!strcmp(k, "permissionmode")) {
		cf_set_str(&e->permission_mode, value);
	} else if (!strcmp(k, "baseurl")) {
		cf_set_str(&e->base_url, value);
	} else if (!strcmp(k, "apikeyenv")) {
		cf_set_str(&e->api_key_env, value);
	} else if (!strcmp(k, "protocol")) {
		if (!value || (strcmp(value, "anthropic") && strcmp(value, "openai") &&
			       strcmp(value, "bedrock")))
			goto bad;
		cf_set_str(&e->protocol, value);
	} else if (!strcmp(k, "provider")) {
		if (provider_check(e->name, value, err, errlen) < 0)
			return -EINVAL;
		cf_set_str(&e->provider, value);
	} else if (!strcmp(k, "slurmargs")) {
		cf_set_str(&e->slurm_args, value);
	} else if (!strcmp(k, "env")) {
		if (!value || !strchr(value, '=') || *value == '=')
			goto bad;
		return cf_add_str(&e->env, &e->n_env, value);
	} else if (!strcmp(k, "sandbox")) {
		if (!value || (strcmp(value, "auto") && strcmp(value, "bwrap") &&
			       strcmp(value, "none")))
			goto bad;
		cf_set_str(&e->sandbox, value);
	} else if (!strcmp(k, "network")) {
		if (!value || (strcmp(value, "on") && strcmp(value, "loopback") &&
			       strcmp(value, "none")))
			goto bad;
		cf_set_str(&e->network, value);
	} else if (!strcmp(k, "bind") || !strcmp(k, "bindrw")) {
		/* ~/NAME or an absolute path, nothing relative */
		if (!value || (value[0] != '/' && strncmp(value, "~/", 2)) ||
		    strstr(value, ".."))
			goto bad;
		return !strcmp(k, "bind") ?
		       cf_add_str(&e->bind, &e->n_bind, value) :
		       cf_add_str(&e->bind_rw, &e->n_bind_rw, value);
	} else if (!strcmp(k, "passenv")) {
		if (!value || !*value || strchr(value, '='))
			goto bad;
		return cf_add_str(&e->pass_env, &e->n_pass_env, value);
	} else if (!strcmp(k, "budgetusd")) {
		if (config_parse_usd(value, &e->budget_usd) < 0)
			goto bad;
	} else if (!strcmp(k, "maxtokens") || !strcmp(k, "maxturns") ||
		   !strcmp(k, "max")) {
		if (cf_parse_long(value, 1, 1 << 24, &num) < 0)
			goto bad;
		if (!strcmp(k, "max"))
			e->max = (int)num;
		else if (!strcmp(k, "maxtokens"))
			e->max_tokens = (int)num;
		else
			e->max_turns = (int)num;
	} else {
		return refuse(err, errlen, key, NULL);
	}
	return 0;
bad:
	return refuse(err, errlen, key, value ? value : "");
}

static struct notify_def *notify_slot(struct config *c, const char *name,
				      size_t len)
{
	struct notify_def *n;
	size_t i;

	for (i = 0; i < c->n_notify; i++)
		if (strlen(c->notify[i].name) == len &&
		    !strncmp(c->notify[i].name, name, len))
			return &c->notify[i];
	n = realloc(c->notify, (c->n_notify + 1) * sizeof(*n));
	if (!n)
		return NULL;
	c->notify = n;
	n += c->n_notify;
	memset(n, 0, sizeof(*n));
	n->timeout = 10;
	n->retries = 5;
	if (!(n->name = strndup(name, len)))
		return NULL;
	c->n_notify++;
	return n;
}

static int add_header(struct notify_def *n, const char *value)
{
	char **v = realloc(n->headers, (n->n_headers + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	n->headers = v;
	if (!(v[n->n_headers] = strdup(value)))
		return -ENOMEM;
	n->n_headers++;
	return 0;
}

/*
 * notify.NAME.KEY. The url and the headers are secrets: a message about
 * them names the key, never the value.
 */
static int read_notify(struct config *c, const char *key, const char *value,
		       char *err, size_t errlen)
{
	const char *name = key + strlen("notify."), *dot = strrchr(key, '.');
	struct notify_def *n;
	const char *k;
	long num;

	if (dot <= name)
		return 0;
	if (!(n = notify_slot(c, name, (size_t)(dot - name))))
		return -ENOMEM;
	k = dot + 1;
	if (!strcmp(k, "events")) {
		cf_set_str(&n->events, value);
	} else if (!strcmp(k, "command")) {
		cf_set_str(&n->command, value);
	} else if (!strcmp(k, "url")) {
		if (!value || (strncmp(value, "http://", 7) &&
			       strncmp(value, "https://", 8))) {
			snprintf(err, errlen, "config %s: not an http:// or"
				 " https:// URL", key);
			return -EINVAL;
		}
		cf_set_str(&n->url, value);
	} else if (!strcmp(k, "format")) {
		if (!value || (strcmp(value, "json") && strcmp(value, "slack")))
			goto bad;
		n->format = strcmp(value, "slack") ? NOTIFY_JSON : NOTIFY_SLACK;
	} else if (!strcmp(k, "header")) {
		/* "Name: value", no line breaks (curl would send them) */
		if (!value || !strchr(value, ':') || *value == ':' ||
		    strpbrk(value, "\r\n")) {
			snprintf(err, errlen, "config %s: not a header line"
				 " 'Name: value'", key);
			return -EINVAL;
		}
		return add_header(n, value);
	} else if (!strcmp(k, "timeout") || !strcmp(k, "retries")) {
		if (cf_parse_long(value, !strcmp(k, "timeout"), 3600, &num) < 0)
			goto bad;
		*(!strcmp(k, "timeout") ? &n->timeout : &n->retries) = (int)num;
	} else {
		return refuse(err, errlen, key, NULL);
	}
	return 0;
bad:
	return refuse(err, errlen, key, value ? value : "");
}

/* price.MODEL.input / price.MODEL.output, dollars per million tokens. */
static int read_price(struct config *c, const char *key, const char *value,
		      char *err, size_t errlen)
{
	const char *name = key + strlen("price."), *dot = strrchr(key, '.');
	struct price_def *pr = NULL;
	char *end;
	double v;
	size_t i;

	if (dot <= name)
		return 0;
	errno = 0;
	v = value ? strtod(value, &end) : -1;
	if (!value || errno || *end || v < 0 ||
	    (strcmp(dot, ".input") && strcmp(dot, ".output"))) {
		snprintf(err, errlen, "config %s: invalid %s '%s'", key,
			 strcmp(dot, ".input") && strcmp(dot, ".output") ?
			 "key" : "price", value ? value : "");
		return -EINVAL;
	}
	for (i = 0; i < c->n_prices; i++)
		if (strlen(c->prices[i].model) == (size_t)(dot - name) &&
		    !strncmp(c->prices[i].model, name, (size_t)(dot - name)))
			pr = &c->prices[i];
	if (!pr) {
		pr = realloc(c->prices, (c->n_prices + 1) * sizeof(*pr));
		if (!pr)
			return -ENOMEM;
		c->prices = pr;
		pr += c->n_prices;
		memset(pr, 0, sizeof(*pr));
		pr->model = strndup(name, (size_t)(dot - name));
		if (!pr->model)
			return -ENOMEM;
		c->n_prices++;
	}
	if (!strcmp(dot, ".input"))
		pr->input = v;
	else
		pr->output = v;
	return 0;
}

/* worktree.copy may be given several times, each a path or several
 * separated by blanks. */
static int add_copy(struct config *c, const char *value)
{
	char **v;

	if (!value || !*value)
		return 0;
	for (const char *p = value; *p;) {
		size_t n;

		while (*p == ' ' || *p == '\t')
			p++;
		n = strcspn(p, " \t");
		if (!n)
			break;
		/* Kept NULL-terminated, for gitwork_commit_all's skip. */
		v = realloc(c->copy, (c->n_copy + 2) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		c->copy = v;
		if (!(v[c->n_copy] = strndup(p, n)))
			return -ENOMEM;
		v[++c->n_copy] = NULL;
		p += n;
	}
	return 0;
}

static int add_policy(struct config *c, enum policy_decision kind,
		      const char *engine, size_t elen, const char *key,
		      const char *value, char *err, size_t errlen)
{
	struct policy_def *d;
	char why[200];

	if (policy_rule_check(value, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "config %s = %s: %s", key,
			 value ? value : "", why);
		return -EINVAL;
	}
	d = realloc(c->policy, (c->n_policy + 1) * sizeof(*d));
	if (!d)
		return -ENOMEM;
	c->policy = d;
	d += c->n_policy;
	d->kind = kind;
	d->engine = engine ? strndup(engine, elen) : NULL;
	d->pattern = strdup(value);
	if ((engine && !d->engine) || !d->pattern) {
		free(d->engine);
		free(d->pattern);
		return -ENOMEM;
	}
	c->n_policy++;
	return 0;
}

/* policy.KEY; engine.NAME.policyDeny|Ask|Allow come here too. */
static int read_policy(struct config *c, const char *key, const char *value,
		       char *err, size_t errlen)
{
	const char *k = strrchr(key, '.') + 1;
	const char *engine = NULL;
	size_t elen = 0;
	long n;
	int b;

	if (!strncmp(key, "engine.", 7)) {
		engine = key + 7;
		elen = (size_t)(k - 1 - engine);
		k += strlen("policy");
	}
	if (!strcmp(k, "deny"))
		return add_policy(c, POLICY_DENY, engine, elen, key, value,
				  err, errlen);
	if (!strcmp(k, "ask"))
		return add_policy(c, POLICY_ASK, engine, elen, key, value,
				  err, errlen);
	if (!strcmp(k, "allow"))
		return add_policy(c, POLICY_ALLOW, engine, elen, key, value,
				  err, errlen);
	if (engine) {
		return refuse(err, errlen, key, NULL);
	}
	if (!strcmp(k, "default")) {
		if (!value || policy_decision_parse(value, &c->policy_default) < 0)
			goto bad;
	} else if (!strcmp(k, "builtin")) {
		if ((b = cf_parse_bool(value)) < 0)
			goto bad;
		c->policy_builtin = b;
	} else if (!strcmp(k, "asktimeout")) {
		if (cf_parse_long(value, 1, 30L * 86400, &n) < 0)
			goto bad;
		c->ask_timeout = (int)n;
	} else if (!strcmp(k, "judgetimeout")) {
		if (cf_parse_long(value, 1, 3600, &n) < 0)
			goto bad;
		c->judge_timeout = (int)n;
	} else if (!strcmp(k, "judge")) {
		if (!value || (strncmp(value, "anthropic", 9) &&
			       strncmp(value, "openai", 6)) ||
		    (value[!strncmp(value, "openai", 6) ? 6 : 9] != '\0' &&
		     value[!strncmp(value, "openai", 6) ? 6 : 9] != ':'))
			goto bad;
		cf_set_str(&c->judge, value);
	} else {
		return refuse(err, errlen, key, NULL);
	}
	return 0;
bad:
	return refuse(err, errlen, key, value ? value : "");
}

/* engine.NAME.policyDeny (libgit2 lowercases it: policydeny). */
static bool engine_policy_key(const char *key)
{
	const char *k = strrchr(key, '.');

	return k && k > key + 7 && !strncmp(k, ".policy", 7);
}

/* The keys that are not parallelai.*: engines, prices, notifiers,
 * merge.strategy and worktree set-up. */
int cf_read_entry(struct config *c, const char *name, const char *value,
		      char *err, size_t errlen)
{
	if (!strncmp(name, "policy.", 7) ||
	    (!strncmp(name, "engine.", 7) && engine_policy_key(name)))
		return read_policy(c, name, value, err, errlen);
	if (!strncmp(name, "engine.", 7))
		return read_engine(c, name, value, err, errlen);
	if (!strncmp(name, "price.", 6))
		return read_price(c, name, value, err, errlen);
	if (!strncmp(name, "notify.", 7))
		return read_notify(c, name, value, err, errlen);
	if (!strcmp(name, "merge.strategy"))
		return config_set(c, "mergestrategy", value, err, errlen);
	if (!strcmp(name, "worktree.copy"))
		return add_copy(c, value);
	if (!strcmp(name, "worktree.setup"))
		cf_set_str(&c->setup, value);
	if (!strncmp(name, "sim.", 4))
		return config_set(c, name, value, err, errlen);
	if (!strcmp(name, "bedrock.region"))
		cf_set_str(&c->bedrock_region, value);
	if (!strcmp(name, "vertex.region"))
		cf_set_str(&c->vertex_region, value);
	if (!strcmp(name, "vertex.project"))
		cf_set_str(&c->vertex_project, value);
	if (!strncmp(name, "slurm.", 6))
		return config_set(c, name, value, err, errlen);
	return 0;
}
