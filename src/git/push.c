/*
 * git/push: a task's recorded commit to its branch at the remote, never
 * forced, checked before connecting and again before anything is sent.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <git2.h>
#include <git2/sys/mempack.h>

#include "gitmsg.h"
#include "merge.h"
#include "quote.h"
#include "gitint.h"

struct push_state {
	int tries;
	char rejected[1200];
	const char *want;	/* the commit to push, or NULL */
	char moved[128];	/* why what was pushed was not it */
};

static int push_credentials(git_credential **out, const char *url,
			    const char *user, unsigned int allowed,
			    void *payload)
{
	struct push_state *ps = payload;

	(void)url;
	/* one attempt: libgit2 asks again for as long as we answer */
	if (ps->tries++)
		return GIT_PASSTHROUGH;
	if ((allowed & GIT_CREDENTIAL_SSH_KEY) && user)
		return git_credential_ssh_key_from_agent(out, user);
	if ((allowed & GIT_CREDENTIAL_USERNAME) && user)
		return git_credential_username_new(out, user);
	return GIT_PASSTHROUGH;
}

static int push_status(const char *refname, const char *status, void *data)
{
	struct push_state *ps = data;

	if (status && !ps->rejected[0])
		snprintf(ps->rejected, sizeof(ps->rejected), "%s (%s)",
			 refname, status);
	return 0;
}

/* The last word before anything is sent: the local side of the update is
 * the commit wanted, or nothing goes. */
static int push_negotiate(const git_push_update **updates, size_t len,
			  void *data)
{
	struct push_state *ps = data;
	size_t i;

	/* dst is the new target of the remote's ref, what goes (src is
	 * its old one). */
	for (i = 0; i < len; i++)
		if (mg_is_wanted(&updates[i]->dst, ps->want, ps->moved,
				 sizeof(ps->moved)) < 0)
			return GIT_EUSER;
	return 0;
}

/*
 * A non-fast-forward is refused by git's receive-pack, but libgit2's
 * transport to a local path updates the ref regardless: check here what
 * the remote advertises. why gets the reason when it is not one.
 */
static int check_fast_forward(git_remote *remote, git_repository *repo,
			      git_reference *ref, const char *refname,
			      char *why, size_t whylen)
{
	const git_remote_head **heads;
	const git_oid *local = git_reference_target(ref);
	size_t i, n;
	int error;

	if (!local)
		return 0;
	if ((error = git_remote_ls(&heads, &n, remote)) < 0)
		return error;
	for (i = 0; i < n; i++) {
		if (strcmp(heads[i]->name, refname) ||
		    git_oid_equal(&heads[i]->oid, local))
			continue;
		/* an object we do not have cannot be an ancestor */
		if (git_graph_descendant_of(repo, local, &heads[i]->oid) != 1)
			snprintf(why, whylen, "%s (non-fast-forward)",
				 refname);
		break;
	}
	git_error_clear();
	return 0;
}

/*
 * The longest of cfg's url.<base>.<key> values that prefixes url, and its
 * base (malloc'd), as git picks an insteadOf rewrite.
 */
static int find_instead(char **base, size_t *matched, git_config *cfg,
			const char *key, const char *url)
{
	git_config_iterator *it = NULL;
	git_config_entry *e;
	size_t klen = strlen(key), len, vlen;

	if (git_config_iterator_new(&it, cfg) < 0)
		return -EIO;
	while (git_config_next(&e, it) == 0) {
		len = strlen(e->name);
		vlen = strlen(e->value);
		if (strncmp(e->name, "url.", 4) || len < 4 + klen + 1 ||
		    strcmp(e->name + len - klen, key) ||
		    e->name[len - klen - 1] != '.' ||
		    strncmp(url, e->value, vlen) || vlen <= *matched)
			continue;
		free(*base);
		if (!(*base = strndup(e->name + 4, len - 4 - klen - 1))) {
			git_config_iterator_free(it);
			return -ENOMEM;
		}
		*matched = vlen;
	}
	git_config_iterator_free(it);
	return 0;
}

/*
 * Where a push to remote goes: remote.NAME.pushurl, else remote.NAME.url
 * rewritten by url.*.pushInsteadOf or insteadOf; a name that is not
 * configured but looks like a URL or path is one. Read here rather than
 * by git_remote_lookup, whose regex matching leaks in libgit2 1.5.1
 * (fixed upstream by libgit2 PR #6382).
 */
static int push_url(char **out, git_repository *repo, const char *name)
{
	git_config *cfg = NULL;
	git_buf v = { 0 };
	char key[512], *base = NULL;
	const char *url = name;
	size_t matched = 0;
	int error = 0;

	*out = NULL;
	if (git_repository_config_snapshot(&cfg, repo) < 0)
		return -EIO;
	snprintf(key, sizeof(key), "remote.%s.pushurl", name);
	if (git_config_get_string_buf(&v, cfg, key) == 0) {
		/* a pushurl is taken as it is */
		url = v.ptr;
		goto copy;
	}
	snprintf(key, sizeof(key), "remote.%s.url", name);
	if (git_config_get_string_buf(&v, cfg, key) == 0) {
		url = v.ptr;
	} else if (!strchr(name, '/') && !strchr(name, ':')) {
		error = -ENOENT;
		goto out;
	}
	error = find_instead(&base, &matched, cfg, "pushinsteadof", url);
	if (error == 0 && !base)
		error = find_instead(&base, &matched, cfg, "insteadof", url);
	if (error < 0)
		goto out;
	if (base) {
		size_t len = strlen(base) + strlen(url + matched) + 1;

		if ((*out = malloc(len)))
			snprintf(*out, len, "%s%s", base, url + matched);
		goto done;
	}
copy:
	*out = strdup(url);
done:
	if (!*out)
		error = -ENOMEM;
out:
	free(base);
	git_buf_dispose(&v);
	git_config_free(cfg);
	return error;
}

int merge_push(const char *repo_path, const char *remote_name,
	       const char *branch, const char *commit, int force, char *err,
	       size_t errlen)
{
	git_repository *repo = NULL;
	git_remote *remote = NULL;
	git_reference *ref = NULL;
	git_push_options po;
	struct push_state ps;
	char spec[2060], refname[1024];
	char *specs[1] = { spec };
	git_strarray refspecs = { specs, 1 };
	char *url = NULL;
	int error;

	memset(&ps, 0, sizeof(ps));
	ps.want = commit;
	if (!remote_name || !*remote_name || !branch || !*branch) {
		gitmsg_set(err, errlen, "cannot push: no %s given",
		       branch && *branch ? "remote" : "branch");
		return -EINVAL;
	}
	if ((size_t)snprintf(refname, sizeof(refname), "%s%s",
			     strncmp(branch, "refs/heads/", 11) ?
			     "refs/heads/" : "", branch) >= sizeof(refname)) {
		gitmsg_set(err, errlen, "invalid branch name '%s'", branch);
		return -EINVAL;
	}
	snprintf(spec, sizeof(spec), "%s%s:%s", force ? "+" : "", refname,
		 refname);
	if ((error = gitmsg_open_repo(&repo, repo_path, err, errlen)) < 0)
		goto out;
	if ((error = git_reference_lookup(&ref, repo, refname)) < 0) {
		gitmsg_set(err, errlen, "cannot push '%s': %s", branch,
		       error == GIT_ENOTFOUND ? "no such branch" : gitmsg_last());
		error = gitmsg_errno(error);
		goto out;
	}
	/* Said before connecting; push_negotiate has the last word. */
	if (git_reference_target(ref) &&
	    (error = mg_is_wanted(git_reference_target(ref), commit, ps.moved,
				  sizeof(ps.moved))) < 0) {
		gitmsg_set(err, errlen, "cannot push '%s': %s", branch,
			   ps.moved);
		goto out;
	}
	if ((error = push_url(&url, repo, remote_name)) == -ENOENT) {
		gitmsg_set(err, errlen, "cannot push '%s': no such remote '%s'",
		       branch, remote_name);
		goto out;
	}
	if (error == 0) {
		git_remote_create_options co;

		/* insteadOf is applied by push_url already */
		git_remote_create_options_init(&co,
					       GIT_REMOTE_CREATE_OPTIONS_VERSION);
		co.repository = repo;
		co.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF |
			   GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
		error = git_remote_create_with_opts(&remote, url, &co);
	}
	if (error < 0) {
		gitmsg_set(err, errlen, "cannot push '%s' to '%s': %s", branch,
		       remote_name, gitmsg_last());
		error = gitmsg_errno(error);
		goto out;
	}
	git_push_options_init(&po, GIT_PUSH_OPTIONS_VERSION);
	po.callbacks.credentials = push_credentials;
	po.callbacks.push_update_reference = push_status;
	po.callbacks.push_negotiation = push_negotiate;
	po.callbacks.payload = &ps;
	error = git_remote_connect(remote, GIT_DIRECTION_PUSH, &po.callbacks,
				   &po.proxy_opts, &po.custom_headers);
	if (error == 0 && !force)
		error = check_fast_forward(remote, repo, ref, refname,
					   ps.rejected, sizeof(ps.rejected));
	if (error == 0 && ps.rejected[0])
		goto rejected;
	if (error == 0)
		error = git_remote_push(remote, &refspecs, &po);
	if (error < 0 && ps.moved[0]) {
		gitmsg_set(err, errlen, "cannot push '%s': %s", branch,
			   ps.moved);
		error = -EBUSY;
		goto out;
	}
	if (error < 0) {
		gitmsg_set(err, errlen, "cannot push '%s' to '%s': %s", branch,
		       remote_name, gitmsg_last());
		error = gitmsg_errno(error);
		goto out;
	}
	if (ps.rejected[0]) {
rejected:
		gitmsg_set(err, errlen, "cannot push '%s' to '%s': rejected %s",
		       branch, remote_name, ps.rejected);
		error = -EBUSY;
	}
out:
	free(url);
	git_reference_free(ref);
	git_remote_free(remote);
	git_repository_free(repo);
	return error;
}
