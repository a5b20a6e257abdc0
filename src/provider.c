/*
 * provider: the cloud behind an engine (Bedrock, Vertex AI) and the
 * variables, names and files its CLI needs for it. See include/provider.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws.h"
#include "config.h"
#include "engine.h"
#include "provider.h"

/* What each cloud needs from the daemon's environment. */
static const char *const aws_names[] = {
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
	"AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CONFIG_FILE",
	"AWS_SHARED_CREDENTIALS_FILE", "AWS_BEARER_TOKEN_BEDROCK",
	"ANTHROPIC_MODEL", "ANTHROPIC_SMALL_FAST_MODEL", NULL
};
static const char *const vertex_names[] = {
	"CLOUD_ML_REGION", "ANTHROPIC_VERTEX_PROJECT_ID", "VERTEX_REGION_",
	"GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT",
	"GOOGLE_CLOUD_LOCATION", "CLOUDSDK_CONFIG", "ANTHROPIC_MODEL",
	"ANTHROPIC_SMALL_FAST_MODEL", NULL
};
static const char *const none[] = { NULL };

/* The clouds each preset's CLI documents, its own API first. */
static const struct clouds {
	const char *engine;
	const char *providers[4];
} clouds[] = {
	{ "claude", { "anthropic", "bedrock", "vertex", NULL } },
	{ "gemini", { "gemini", "vertex", NULL } },
	/* their model's name picks the cloud (bedrock/…, amazon-bedrock/…):
	 * they need its credentials and region */
	{ "aider", { "bedrock", NULL } },
	{ "opencode", { "bedrock", NULL } },
};

static const struct clouds *clouds_of(const char *engine)
{
	size_t i;

	for (i = 0; i < sizeof(clouds) / sizeof(clouds[0]); i++)
		if (!strcmp(clouds[i].engine, engine))
			return &clouds[i];
	return NULL;
}

int provider_check(const char *engine, const char *value, char *err, size_t errlen)
{
	const struct clouds *cl = clouds_of(engine);
	size_t i;

	for (i = 0; cl && cl->providers[i]; i++)
		if (value && !strcmp(value, cl->providers[i]))
			return 0;
	if (!cl)
		snprintf(err, errlen, "config engine.%s.provider: only claude, gemini, aider "
			 "and opencode have one", engine);
	else
		snprintf(err, errlen, "config engine.%s.provider: '%s' is not one of %s%s%s%s%s",
			 engine, value ? value : "", cl->providers[0],
			 cl->providers[1] ? ", " : "", cl->providers[1] ? cl->providers[1] : "",
			 cl->providers[2] ? ", " : "", cl->providers[2] ? cl->providers[2] : "");
	return -EINVAL;
}

/* Is the engine the built-in agent speaking bedrock? */
static bool builtin_bedrock(const struct engine_def *d, const char *engine)
{
	if (d && d->command)
		return false;
	return !strcmp(engine, "bedrock") ||
	       (d && d->protocol && !strcmp(d->protocol, "bedrock"));
}

const char *provider_of(const struct config *c, const char *engine)
{
	const struct engine_def *d = config_engine(c, engine);

	if (builtin_bedrock(d, engine))
		return "bedrock";
	if (d && !d->command && d->provider && clouds_of(engine))
		return d->provider;
	return NULL;
}

static bool is(const char *provider, const char *name)
{
	return provider && !strcmp(provider, name);
}

bool provider_replaces(const struct config *c, const char *engine,
		       const char *pattern)
{
	const char *p = provider_of(c, engine);

	if (!strcmp(engine, "claude") && (is(p, "bedrock") || is(p, "vertex")))
		return !strcmp(pattern, "ANTHROPIC_");
	if (!strcmp(engine, "gemini") && is(p, "vertex"))
		return !strcmp(pattern, "GEMINI_");
	return false;
}

const char *const *provider_pass(const struct config *c, const char *engine)
{
	const char *p = provider_of(c, engine);

	if (is(p, "bedrock"))
		return aws_names;
	if (is(p, "vertex"))
		return vertex_names;
	return none;
}

/* "KEY=VALUE" onto a NULL-terminated vector. */
static int add(char ***v, size_t *n, const char *key, const char *value)
{
	char **nv = realloc(*v, (*n + 2) * sizeof(**v));

	if (!nv)
		return -ENOMEM;
	*v = nv;
	if (asprintf(&nv[*n], "%s=%s", key, value) < 0)
		return -ENOMEM;
	nv[++*n] = NULL;
	return 0;
}

static const char *env_or(const char *name, const char *fallback)
{
	const char *v = getenv(name);

	return v && *v ? v : fallback;
}

int provider_env(const struct config *c, const char *engine, char ***env_out)
{
	const char *p = provider_of(c, engine);
	const char *project = env_or("ANTHROPIC_VERTEX_PROJECT_ID",
				     env_or("GOOGLE_CLOUD_PROJECT", c->vertex_project));
	const char *vregion = env_or("CLOUD_ML_REGION", c->vertex_region);
	char **v = NULL, region[64];
	size_t n = 0;
	int r = 0;

	*env_out = NULL;
	if (is(p, "bedrock") && !builtin_bedrock(config_engine(c, engine), engine)) {
		if (!strcmp(engine, "claude"))
			r = add(&v, &n, "CLAUDE_CODE_USE_BEDROCK", "1");
		/* claude reads no region from ~/.aws/config: say it. */
		if (r == 0 && aws_region(region, sizeof(region), c->bedrock_region) == 0)
			r = add(&v, &n, "AWS_REGION", region);
	} else if (!strcmp(engine, "claude") && is(p, "vertex")) {
		r = add(&v, &n, "CLAUDE_CODE_USE_VERTEX", "1");
		if (r == 0 && vregion)
			r = add(&v, &n, "CLOUD_ML_REGION", vregion);
		if (r == 0 && project)
			r = add(&v, &n, "ANTHROPIC_VERTEX_PROJECT_ID", project);
	} else if (!strcmp(engine, "gemini") && is(p, "vertex")) {
		r = add(&v, &n, "GOOGLE_GENAI_USE_VERTEXAI", "true");
		if (r == 0 && (project = env_or("GOOGLE_CLOUD_PROJECT", c->vertex_project)))
			r = add(&v, &n, "GOOGLE_CLOUD_PROJECT", project);
		if (r == 0 && (vregion = env_or("GOOGLE_CLOUD_LOCATION", c->vertex_region)))
			r = add(&v, &n, "GOOGLE_CLOUD_LOCATION", vregion);
	}
	if (r < 0) {
		engine_argv_free(v);
		return r;
	}
	*env_out = v;
	return 0;
}

int provider_files(const struct config *c, const char *engine,
		   char out[][4096], int max)
{
	const char *p = provider_of(c, engine);
	const char *vars[] = { "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE" };
	const char *gac = getenv("GOOGLE_APPLICATION_CREDENTIALS");
	int n = 0, i;

	if (is(p, "bedrock")) {
		if (n < max)
			snprintf(out[n++], 4096, "~/.aws");
		for (i = 0; i < 2; i++) {
			const char *v = getenv(vars[i]);

			if (v && *v == '/' && n < max)
				snprintf(out[n++], 4096, "%s", v);
		}
	} else if (is(p, "vertex") && n < max) {
		if (gac && *gac == '/')
			snprintf(out[n++], 4096, "%s", gac);
		else
			snprintf(out[n++], 4096, "~/.config/gcloud");
	}
	return n;
}
