/*
 * aws: AWS credentials and region as the AWS tools find them, for the
 * built-in agent's Bedrock requests and the claude CLI's Bedrock
 * provider.
 *
 *	struct aws_creds c;
 *	char region[64];
 *	if (aws_creds_load(&c, err, sizeof(err)) < 0)	// says where it looked
 *		...;
 *	aws_region(region, sizeof(region), cfg->bedrock_region);
 *	aws_creds_release(&c);				// wiped
 *
 * Credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
 * AWS_SESSION_TOKEN; else the profile AWS_PROFILE (default "default") of
 * ~/.aws/credentials (AWS_SHARED_CREDENTIALS_FILE). Region: AWS_REGION,
 * AWS_DEFAULT_REGION, the profile's region in ~/.aws/config
 * (AWS_CONFIG_FILE), else the fallback (bedrock.region).
 */
#ifndef PAI_AWS_H
#define PAI_AWS_H

#include <stddef.h>

struct aws_creds {
	char *access_key;
	char *secret_key;	/* a secret: never logged */
	char *token;		/* a secret too; NULL when none */
	char source[64];	/* "environment", "profile NAME" */
};

/* -ENOENT with err when neither the environment nor the profile has
 * them. */
int aws_creds_load(struct aws_creds *c, char *err, size_t errlen);
void aws_creds_release(struct aws_creds *c);
/* -ENOENT when nothing names a region. */
int aws_region(char *out, size_t len, const char *fallback);

#endif
