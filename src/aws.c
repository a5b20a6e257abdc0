/*
 * aws: AWS credentials and region from the environment and ~/.aws, read
 * the way the AWS CLI and SDKs read them (the parts of it a static key
 * pair or a session token needs; no SSO, no credential_process, no
 * instance metadata). See include/aws.h.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws.h"

/* The value of key in [section] of an INI file (~/.aws/credentials and
 * ~/.aws/config), into out; -ENOENT when absent. */
static int ini_get(const char *path, const char *section, const char *key,
		   char *out, size_t len)
{
	FILE *f = fopen(path, "re");
	char line[4096];
	bool in = false;
	int r = -ENOENT;

	if (!f)
		return -errno;
	while (r == -ENOENT && fgets(line, sizeof(line), f)) {
		char *p = line, *end = line + strcspn(line, "\r\n"), *eq;

		*end = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '[') {
			char *close = strchr(p, ']');

			in = close && (size_t)(close - p - 1) == strlen(section) &&
			     !strncmp(p + 1, section, strlen(section));
			continue;
		}
		if (!in || *p == '#' || *p == ';' || !(eq = strchr(p, '=')))
			continue;
		for (end = eq; end > p && (end[-1] == ' ' || end[-1] == '\t'); end--)
			;
		if ((size_t)(end - p) != strlen(key) || strncmp(p, key, strlen(key)))
			continue;
		for (eq++; *eq == ' ' || *eq == '\t'; eq++)
			;
		for (end = eq + strlen(eq); end > eq && (end[-1] == ' ' || end[-1] == '\t'); end--)
			;
		if ((size_t)(end - eq) < len) {
			memcpy(out, eq, (size_t)(end - eq));
			out[end - eq] = '\0';
			r = 0;
		} else {
			r = -ENAMETOOLONG;
		}
	}
	explicit_bzero(line, sizeof(line));
	fclose(f);
	return r;
}

/* An AWS file: its variable, else ~/.aws/NAME. */
static void aws_file(char *path, size_t len, const char *var, const char *name)
{
	const char *v = getenv(var), *home = getenv("HOME");

	if (v && *v)
		snprintf(path, len, "%s", v);
	else
		snprintf(path, len, "%s/.aws/%s", home ? home : "", name);
}

static const char *profile_name(void)
{
	const char *p = getenv("AWS_PROFILE");

	return p && *p ? p : "default";
}

static char *take_env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? strdup(v) : NULL;
}

int aws_creds_load(struct aws_creds *c, char *err, size_t errlen)
{
	char path[4096], v[4096];
	const char *profile = profile_name();

	memset(c, 0, sizeof(*c));
	c->access_key = take_env("AWS_ACCESS_KEY_ID");
	c->secret_key = take_env("AWS_SECRET_ACCESS_KEY");
	if (c->access_key && c->secret_key) {
		c->token = take_env("AWS_SESSION_TOKEN");
		snprintf(c->source, sizeof(c->source), "environment");
		return 0;
	}
	aws_creds_release(c);
	aws_file(path, sizeof(path), "AWS_SHARED_CREDENTIALS_FILE", "credentials");
	if (ini_get(path, profile, "aws_access_key_id", v, sizeof(v)) == 0)
		c->access_key = strdup(v);
	if (ini_get(path, profile, "aws_secret_access_key", v, sizeof(v)) == 0)
		c->secret_key = strdup(v);
	if (ini_get(path, profile, "aws_session_token", v, sizeof(v)) == 0)
		c->token = strdup(v);
	explicit_bzero(v, sizeof(v));
	if (c->access_key && c->secret_key) {
		snprintf(c->source, sizeof(c->source), "profile %.40s", profile);
		return 0;
	}
	aws_creds_release(c);
	snprintf(err, errlen, "bedrock: no AWS credentials: set AWS_ACCESS_KEY_ID and "
		 "AWS_SECRET_ACCESS_KEY, or the profile '%s' in %s (AWS_PROFILE names "
		 "another)", profile, path);
	return -ENOENT;
}

static void wipe(char **s)
{
	if (*s) {
		explicit_bzero(*s, strlen(*s));
		free(*s);
	}
	*s = NULL;
}

void aws_creds_release(struct aws_creds *c)
{
	wipe(&c->access_key);
	wipe(&c->secret_key);
	wipe(&c->token);
}

int aws_region(char *out, size_t len, const char *fallback)
{
	const char *vars[] = { "AWS_REGION", "AWS_DEFAULT_REGION" };
	const char *profile = profile_name();
	char path[4096], section[300];
	size_t i;

	for (i = 0; i < 2; i++) {
		const char *v = getenv(vars[i]);

		if (v && *v) {
			snprintf(out, len, "%s", v);
			return 0;
		}
	}
	aws_file(path, sizeof(path), "AWS_CONFIG_FILE", "config");
	/* ~/.aws/config names its sections "profile NAME", but "default". */
	if (strcmp(profile, "default"))
		snprintf(section, sizeof(section), "profile %s", profile);
	else
		snprintf(section, sizeof(section), "default");
	if (ini_get(path, section, "region", out, len) == 0 && *out)
		return 0;
	if (fallback && *fallback) {
		snprintf(out, len, "%s", fallback);
		return 0;
	}
	return -ENOENT;
}

