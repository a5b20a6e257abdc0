/*
 * provider: the cloud an agent CLI's model is reached through, and what
 * its environment needs for it.
 *
 *	[engine "claude"]
 *		provider = bedrock	# anthropic (the default), bedrock, vertex
 *	[bedrock]
 *		region = us-east-1
 *
 * claude on bedrock gets CLAUDE_CODE_USE_BEDROCK=1 and AWS_REGION (as
 * aws.h finds it) besides the AWS credentials; on vertex
 * CLAUDE_CODE_USE_VERTEX=1, CLOUD_ML_REGION and ANTHROPIC_VERTEX_PROJECT_ID
 * (vertex.region, vertex.project) besides the Google credentials file.
 * gemini on vertex gets GOOGLE_GENAI_USE_VERTEXAI=true, GOOGLE_CLOUD_PROJECT
 * and GOOGLE_CLOUD_LOCATION. aider and opencode on bedrock get AWS_REGION
 * and the AWS credentials (their model's name picks the cloud). The
 * built-in agent's bedrock protocol is provider bedrock too.
 */
#ifndef PAI_PROVIDER_H
#define PAI_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>

struct config;

/* 0 when engine.ENGINE.provider may be value; -EINVAL with err. */
int provider_check(const char *engine, const char *value, char *err,
		   size_t errlen);

/* "bedrock", "vertex", ... for status; NULL for an engine with none (or
 * with the CLI's own, unconfigured). */
const char *provider_of(const struct config *c, const char *engine);

/*
 * The variables the provider sets, "KEY=VALUE", NULL-terminated, malloc'd
 * (free with engine_argv_free); *env_out is NULL when there are none.
 * They go before engine.NAME.env, which may override them.
 */
int provider_env(const struct config *c, const char *engine, char ***env_out);

/*
 * The names of the daemon's environment the provider needs passed to the
 * engine (its credentials and settings; a trailing '_' makes a prefix),
 * NULL-terminated; an empty list when none. Nothing else of the cloud's:
 * claude on bedrock is not handed ANTHROPIC_API_KEY.
 */
const char *const *provider_pass(const struct config *c, const char *engine);
/* Does the cloud replace what the preset's name pattern passes (claude's
 * ANTHROPIC_ on bedrock or vertex, gemini's GEMINI_ on vertex)? */
bool provider_replaces(const struct config *c, const char *engine,
		       const char *pattern);

/*
 * The files the provider's credentials live in, to be bound read-only
 * into a sandbox, as engine.NAME.bind takes them: ~/.aws (and
 * AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE when set),
 * GOOGLE_APPLICATION_CREDENTIALS (or ~/.config/gcloud). Up to max paths
 * into out; how many.
 */
int provider_files(const struct config *c, const char *engine,
		   char out[][4096], int max);

#endif
