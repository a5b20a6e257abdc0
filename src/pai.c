/*
 * pai: small helpers over the daemon's shared state (paths, clocks).
 */
#include <stdio.h>
#include <time.h>

#include "pai.h"

int64_t pai_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void pai_log_path(const struct pai *p, int64_t id, char *out, size_t len)
{
	snprintf(out, len, "%s/logs/%lld.log", p->state_dir, (long long)id);
}

void pai_check_path(const struct pai *p, int64_t id, char *out, size_t len)
{
	snprintf(out, len, "%s/logs/%lld.check", p->state_dir, (long long)id);
}

void pai_raw_path(const struct pai *p, int64_t id, char *out, size_t len)
{
	snprintf(out, len, "%s/logs/%lld.jsonl", p->state_dir, (long long)id);
}

void pai_result_path(const struct pai *p, int64_t id, char *out, size_t len)
{
	snprintf(out, len, "%s/results/%lld.json", p->state_dir,
		 (long long)id);
}

void pai_settings_path(const struct pai *p, int64_t id, char *out, size_t len)
{
	snprintf(out, len, "%s/results/%lld-settings.json", p->state_dir,
		 (long long)id);
}

void pai_exit_path(const struct pai *p, int64_t id, int attempt, char *out,
		   size_t len)
{
	snprintf(out, len, "%s/results/%lld-%d.exit", p->state_dir,
		 (long long)id, attempt);
}

void pai_prompt_path(const struct pai *p, int64_t id, char *out, size_t len)
{
	snprintf(out, len, "%s/prompts/%lld", p->state_dir, (long long)id);
}

void pai_box_path(const struct pai *p, int64_t id, const char *what,
		  char *out, size_t len)
{
	snprintf(out, len, "%s/box/%lld/%s", p->state_dir, (long long)id,
		 what);
}

void pai_worktree_path(const struct pai *p, int64_t id, char *out, size_t len)
{
	snprintf(out, len, "%s/%lld", p->worktrees_dir, (long long)id);
}

void pai_format_time(int64_t ms, char *out, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
